package dev.hmm.policy;

/**
 * Chooses which device frames go back to RAM when the device is short of memory (the policy behind the engine's
 * LRU surrogate; UVMSmart's eviction policies). The engine feeds it events and asks it for candidates; it never
 * evicts anything itself.
 *
 * <h2>Threading</h2>
 * Every method is called by one thread at a time (the holder of the device's LRU lock), so implementations need no
 * synchronisation. Events arrive in batches: accesses are hints that may be lost under contention (counted as
 * {@code lruLostHints}); insertions and removals are never lost, but may be stale (an insertion is only delivered for
 * a frame that is still mapped when the batch is applied).
 *
 * <h2>Contract</h2>
 * <ul>
 * <li>{@link #onInsert}: a frame now holds a page on the device (migrated in, populated, or put back after a failed
 *     migration). An insertion of a frame already tracked counts as an access.</li>
 * <li>{@link #onAccess}: the page in the frame was accessed. Frames not tracked are ignored.</li>
 * <li>{@link #onRemove}: the frame left (migrated away, isolated for migration, unmapped, freed). Frames not tracked
 *     are ignored.</li>
 * <li>{@link #candidates}: fills {@code out} with up to {@code max} distinct tracked frames, the best victims first,
 *     without removing them; the engine then tries to evict each and reports the outcome ({@link #onRemove} for the
 *     evicted, {@link #onSkipped} for the others).</li>
 * </ul>
 */
public interface EvictionPolicy {

    /** The policy's name, from its {@link PolicySpec}. */
    default String name() {
        PolicySpec spec = getClass().getAnnotation(PolicySpec.class);
        return spec != null ? spec.name() : getClass().getSimpleName();
    }

    void onInsert(int frame);

    void onAccess(int frame);

    void onRemove(int frame);

    /**
     * Victim candidates, best first.
     *
     * @return how many were written to {@code out}
     */
    int candidates(int[] out, int max);

    /** The engine could not evict {@code frame} (pinned, busy); the policy may reorder it. Default: nothing. */
    default void onSkipped(int frame, String reason) {
    }

    /** Frames tracked now. */
    int size();

    /** Creates a policy for one device. */
    @FunctionalInterface
    interface Factory {
        EvictionPolicy create(EvictionContext context);
    }
}
