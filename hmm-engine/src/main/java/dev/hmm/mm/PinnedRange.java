package dev.hmm.mm;

/**
 * A range pinned by {@link AddressSpace#pin} ({@code pin_user_pages} with {@code FOLL_LONGTERM}). Close it to unpin
 * ({@code unpin_user_pages}). Not thread-safe; close once.
 */
public final class PinnedRange implements AutoCloseable {
    private final AddressSpace mm;
    private final long start;
    private final long end;
    private final long[] pfns;
    private boolean closed;

    PinnedRange(AddressSpace mm, long start, long end, long[] pfns) {
        this.mm = mm;
        this.start = start;
        this.end = end;
        this.pfns = pfns;
    }

    public long start() {
        return start;
    }

    public long end() {
        return end;
    }

    /** The pinned frame of page {@code i} of the range. */
    public long pfn(int i) {
        return pfns[i];
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (long pfn : pfns) {
            mm.unpinFrame(pfn);
        }
    }
}
