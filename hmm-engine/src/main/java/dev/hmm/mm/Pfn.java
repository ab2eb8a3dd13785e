package dev.hmm.mm;

/**
 * Page frame numbers. A pfn names one frame of one {@link MemoryNode}: the node id in the high bits, the frame index
 * in that node in the low {@link #INDEX_BITS} bits, so that finding a frame's node is one shift (no range search).
 *
 * <pre>
 *  51        40 39                                        0
 * +------------+-------------------------------------------+
 * |  node id   |              frame index                  |
 * +------------+-------------------------------------------+
 * </pre>
 * A pfn fits the 52-bit frame field of a {@link Pte} and the 58-bit pfn field of a {@link MigratePfn}.
 * Never instantiated.
 */
public final class Pfn {
    public static final int INDEX_BITS = 40;
    public static final int NODE_BITS = 12;
    public static final int MAX_NODES = 1 << NODE_BITS;
    static final long INDEX_MASK = (1L << INDEX_BITS) - 1;
    /** Sentinel: no frame. */
    public static final long NONE = -1L;

    private Pfn() {
    }

    public static long of(int node, long index) {
        return ((long) node << INDEX_BITS) | index;
    }

    public static int node(long pfn) {
        return (int) (pfn >>> INDEX_BITS);
    }

    public static int index(long pfn) {
        return (int) (pfn & INDEX_MASK);
    }

    public static String toString(long pfn) {
        return pfn == NONE ? "none" : node(pfn) + ":" + index(pfn);
    }
}
