package dev.hmm.mm;

import java.lang.foreign.MemorySegment;

/**
 * One memory node of fixed frame count and the engine's page size: system RAM (node 0) or a device's memory
 * (a NUMA node / {@code pg_data_t}, and for devices the range of a {@link DevicePagemap}). Owns the node's
 * {@link FrameTable}, {@link FreeList} and {@link PageStore}.
 */
public final class MemoryNode {
    private final int id;
    private final String name;
    private final MemoryType type;
    private final int frames;
    private final int pageSize;
    final FrameTable table;
    final FreeList free;
    final PageStore store;
    /** The node's memory ({@link MemorySegment#NULL} in METADATA mode). Hot path: read once, never changes. */
    final MemorySegment memory;
    /**
     * Whether the node's bytes are host memory that CPU code may copy through {@link #memory}; false for METADATA and
     * for a real GPU's device memory, which is read and written through {@link PageStore#read}/{@link PageStore#write}.
     */
    final boolean hostAddressable;
    private volatile DevicePagemap pagemap;
    /** The device's LRU surrogate, or null (RAM, or a device without eviction). Set once at attach. */
    volatile LruSurrogate lru;
    /**
     * Linear (DAX) memory: frame {@code i} is always the bytes at offset {@code i * pageSize}, claimed by the mapping
     * that covers it ({@link #claimLinear}), never allocated from the free list and never pushed back on it.
     */
    private final boolean linear;

    MemoryNode(int id, String name, MemoryType type, int frames, int pageSize, PageStore store) {
        if (store.frames() < frames || store.pageSize() != pageSize) {
            throw new IllegalArgumentException("node " + name + ": page store holds " + store.frames() + " frames of "
                    + store.pageSize() + " bytes, need " + frames + " of " + pageSize);
        }
        this.id = id;
        this.name = name;
        this.type = type;
        this.frames = frames;
        this.pageSize = pageSize;
        this.table = new FrameTable(id, frames, type.isDevice());
        this.free = new FreeList(table);
        this.store = store;
        this.memory = store.memory();
        this.hostAddressable = memory != null && memory.byteSize() > 0;
        this.linear = type == MemoryType.DEVICE_PERSISTENT;
        if (linear) {
            return; // frames are mapped in place at fixed offsets (DAX), never handed out by the free list
        }
        int[] all = new int[Math.min(frames, 1 << 16)];
        // Push in descending chunks so that allocation hands out low frame numbers first (easier to read in dumps).
        for (int hi = frames; hi > 0; hi -= all.length) {
            int lo = Math.max(0, hi - all.length);
            int n = hi - lo;
            for (int k = 0; k < n; k++) {
                all[k] = lo + k;
            }
            free.push(all, 0, n);
        }
    }

    void attach(DevicePagemap pagemap) {
        this.pagemap = pagemap;
    }

    public int id() {
        return id;
    }

    public String name() {
        return name;
    }

    public MemoryType type() {
        return type;
    }

    public int frames() {
        return frames;
    }

    public int pageSize() {
        return pageSize;
    }

    public long capacityBytes() {
        return (long) frames * pageSize;
    }

    /** Free frames now (may lag concurrent allocations by one batch). */
    public long freeFrames() {
        return free.count();
    }

    public PageStore store() {
        return store;
    }

    /** The device's pagemap, or null for system RAM. */
    public DevicePagemap pagemap() {
        return pagemap;
    }

    /** Bytes of frame metadata per frame on this node (see {@link FrameTable}). */
    public int metadataBytesPerFrame() {
        return table.bytesPerFrame();
    }

    /** The state of a frame, for inspection and tests. */
    public PageState state(int index) {
        return table.state(index);
    }

    public int pins(int index) {
        return table.pins(index);
    }

    /**
     * Allocates up to {@code n} frames: pops them from the free list (one CAS) and moves each FREE -&gt; ALLOCATED.
     *
     * @return the number allocated, fewer than {@code n} only when the node ran out
     */
    int allocate(int[] out, int from, int n) {
        int got = free.pop(out, from, n);
        for (int k = from; k < from + got; k++) {
            table.transition(out[k], PageState.FREE, PageState.ALLOCATED);
        }
        return got;
    }

    /** Allocates one frame, or returns -1. */
    int allocateOne() {
        int[] one = new int[1];
        return allocate(one, 0, 1) == 1 ? one[0] : -1;
    }

    /**
     * Frees frames that the caller owns in state {@code from} (ALLOCATED, ISOLATED or MAPPED): one CAS each to FREE,
     * the reverse map cleared, then the device's {@code pageFree} callback, then one push of the batch.
     */
    void release(int[] frames, int from, int n, PageState state) {
        if (n <= 0) {
            return;
        }
        LruSurrogate l = lru;
        if (l != null && state == PageState.MAPPED) {
            // mapped frames leave the LRU before they can be reused (isolated ones already left at isolation)
            int[] removed = new int[n];
            for (int k = 0; k < n; k++) {
                removed[k] = ~frames[from + k];
            }
            l.publish(removed, n);
        }
        for (int k = from; k < from + n; k++) {
            int i = frames[k];
            table.soRmap(i, Rmap.NONE);
            table.transition(i, state, PageState.FREE);
        }
        DevicePagemap pm = pagemap;
        if (pm != null) {
            pm.ops().pagesFree(id, frames, from, n); // one call per batch: the device counts them with one add
        }
        if (!linear) {
            free.push(frames, from, n);
        }
    }

    void releaseOne(int index, PageState state) {
        LruSurrogate l = lru;
        if (l != null && state == PageState.MAPPED) {
            l.publish(new int[] {~index}, 1);
        }
        table.soRmap(index, Rmap.NONE);
        table.transition(index, state, PageState.FREE);
        DevicePagemap pm = pagemap;
        if (pm != null) {
            pm.ops().pageFree(Pfn.of(id, index));
        }
        if (!linear) {
            free.push(index);
        }
    }

    /**
     * Claims frames {@code [first, first+count)} of linear (DAX) memory for one mapping: FREE -&gt; ALLOCATED each,
     * all or none.
     */
    void claimLinear(int first, int count) {
        for (int k = 0; k < count; k++) {
            if (!table.tryTransition(first + k, PageState.FREE, PageState.ALLOCATED)) {
                for (int j = 0; j < k; j++) {
                    table.transition(first + j, PageState.ALLOCATED, PageState.FREE);
                }
                throw new IllegalStateException(String.format("%s: frames [%d, %d) overlap an existing DAX mapping",
                        name, first, first + count));
            }
        }
    }

    /** Returns the untouched (still ALLOCATED) frames of a DAX range to FREE; mapped ones were freed by the zap. */
    void unclaimLinear(int first, int count) {
        for (int k = 0; k < count; k++) {
            table.tryTransition(first + k, PageState.ALLOCATED, PageState.FREE);
        }
    }

    boolean isLinear() {
        return linear;
    }

    /** Copies {@code n} bytes at byte offset {@code at} of this node into {@code dst}: a CPU copy, or the driver's. */
    void read(long at, MemorySegment dst, long dstOffset, long n) {
        if (hostAddressable) {
            MemorySegment.copy(memory, at, dst, dstOffset, n);
        } else {
            store.read(at, dst, dstOffset, n); // a real GPU's memory: a small synchronous copy through the driver
        }
    }

    /** Copies {@code n} bytes of {@code src} to byte offset {@code at} of this node; see {@link #read}. */
    void write(MemorySegment src, long srcOffset, long at, long n) {
        if (hostAddressable) {
            MemorySegment.copy(src, srcOffset, memory, at, n);
        } else {
            store.write(src, srcOffset, at, n);
        }
    }

    /** Byte offset of a frame in {@link #memory}. */
    long offset(int index) {
        return (long) index * pageSize;
    }

    @Override
    public String toString() {
        return name + "(node " + id + ", " + type + ", " + frames + " frames)";
    }
}
