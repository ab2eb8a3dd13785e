package dev.hmm.mm;

import java.util.Arrays;

/**
 * Frames to free after a TLB flush, grouped by node so that each node's free list takes one CAS per run of frames
 * (the {@code mmu_gather} batch of {@code tlb_finish_mmu}). Not thread-safe; one per operation.
 */
final class FrameRelease {
    private final HmmEngine engine;
    private long[] pfns = new long[64];
    private int count;
    private int[] run = new int[64];

    FrameRelease(HmmEngine engine) {
        this.engine = engine;
    }

    void add(long pfn) {
        if (count == pfns.length) {
            pfns = Arrays.copyOf(pfns, count * 2);
        }
        pfns[count++] = pfn;
    }

    int count() {
        return count;
    }

    /** Frees every frame collected, each in state {@code from}; empties the batch. */
    void releaseAll(PageState from) {
        int i = 0;
        while (i < count) {
            int node = Pfn.node(pfns[i]);
            int n = 0;
            while (i < count && Pfn.node(pfns[i]) == node) {
                if (n == run.length) {
                    run = Arrays.copyOf(run, n * 2);
                }
                run[n++] = Pfn.index(pfns[i++]);
            }
            engine.node(node).release(run, 0, n, from);
        }
        count = 0;
    }
}
