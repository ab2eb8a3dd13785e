package dev.hmm.mm;

import java.util.Arrays;

/**
 * Frames to free after a TLB flush, grouped by node so that each node's free list takes one CAS per run of frames
 * (the {@code mmu_gather} batch of {@code tlb_finish_mmu}). Not thread-safe; one per operation.
 */
final class FrameRelease {
    private static final long[] NO_PFNS = {};
    private static final int[] NO_RUN = {};
    private final HmmEngine engine;
    /** Frames the owner may free at most in one batch (a migration's capacity): the size of the first allocation. */
    private final int expected;
    // allocated on first use: most operations free a handful of frames or none (an eviction of one victim makes two of
    // these), and zeroing 64-entry arrays up front was most of the engine's allocation volume in a trace replay
    private long[] pfns = NO_PFNS;
    private int count;
    private int[] run = NO_RUN;

    FrameRelease(HmmEngine engine) {
        this(engine, 8);
    }

    /** As above, sized for {@code expected} frames at the first add (a 512-page migration grew 8, 16 ... 512). */
    FrameRelease(HmmEngine engine, int expected) {
        this.engine = engine;
        this.expected = Math.max(8, expected);
    }

    void add(long pfn) {
        if (count == pfns.length) {
            pfns = Arrays.copyOf(pfns, count == 0 ? expected : count * 2);
        }
        pfns[count++] = pfn;
    }

    int count() {
        return count;
    }

    /** Frees every frame collected, each in state {@code from}; empties the batch. */
    void releaseAll(PageState from) {
        if (run.length < count) {
            run = new int[pfns.length]; // a run is at most every frame collected
        }
        int i = 0;
        while (i < count) {
            int node = Pfn.node(pfns[i]);
            int n = 0;
            while (i < count && Pfn.node(pfns[i]) == node) {
                run[n++] = Pfn.index(pfns[i++]);
            }
            engine.node(node).release(run, 0, n, from);
        }
        count = 0;
    }
}
