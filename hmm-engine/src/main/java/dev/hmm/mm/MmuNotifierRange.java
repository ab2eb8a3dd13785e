package dev.hmm.mm;

/**
 * One invalidation in flight over {@code [start, end)} of an address space ({@code struct mmu_notifier_range}):
 * {@link AddressSpace#invalidateRangeStart} called every overlapping subscriber, {@link #close()} ends it
 * ({@code mmu_notifier_invalidate_range_end}). The subscribers are the ones registered when it began.
 */
final class MmuNotifierRange implements AutoCloseable {
    private final AddressSpace mm;
    private final long start;
    private final long end;
    private final MmuIntervalNotifier[] subscribers;
    private boolean open = true;
    private boolean cleared;

    MmuNotifierRange(AddressSpace mm, long start, long end, MmuIntervalNotifier[] subscribers) {
        this.mm = mm;
        this.start = start;
        this.end = end;
        this.subscribers = subscribers;
    }

    void begin(MmuNotifierEvent event, Object owner) {
        for (MmuIntervalNotifier n : subscribers) {
            if (n.overlaps(start, end)) {
                cleared |= n.invalidateStart(start, end, event, owner);
            }
        }
    }

    /** Whether a subscriber cleared device entries: the caller must flush the TLB before reusing their frames. */
    boolean cleared() {
        return cleared;
    }

    @Override
    public void close() {
        if (!open) {
            return;
        }
        open = false;
        for (MmuIntervalNotifier n : subscribers) {
            if (n.overlaps(start, end)) {
                n.invalidateEnd(start, end);
            }
        }
        mm.invalidationEnded();
    }
}
