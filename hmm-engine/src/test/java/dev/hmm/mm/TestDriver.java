package dev.hmm.mm;

/**
 * A device driver for tests: off-heap (or metadata) device memory of a chosen type and a {@link MemcpyCopyEngine}
 * whose failures a test can switch at run time ({@link #failWith}).
 */
public final class TestDriver implements DeviceDriver {
    private final String name;
    private final MemoryType type;
    private final long capacity;
    private final MemcpyCopyEngine copy;
    private final Object owner;
    private volatile CopyFaultInjector injector = CopyFaultInjector.NONE;

    public TestDriver(String name, MemoryType type, long capacityBytes, int copyThreads) {
        this(name, type, capacityBytes, copyThreads, null);
    }

    /** A driver with an explicit owner token (null: the driver itself). */
    public TestDriver(String name, MemoryType type, long capacityBytes, int copyThreads, Object owner) {
        this(name, type, capacityBytes, copyThreads, owner, false);
    }

    /**
     * As above; {@code asyncCopy} gives it an asynchronous copy engine ({@link MemcpyCopyEngine#dedicated}), so that
     * migrations on it pipeline their chunks.
     */
    public TestDriver(String name, MemoryType type, long capacityBytes, int copyThreads, Object owner,
            boolean asyncCopy) {
        this.name = name;
        this.type = type;
        this.capacity = capacityBytes;
        this.owner = owner != null ? owner : this;
        CopyFaultInjector injected = (seq, i, s, d) -> injector.shouldFail(seq, i, s, d);
        this.copy = asyncCopy ? MemcpyCopyEngine.dedicated(name, copyThreads, injected)
                : new MemcpyCopyEngine(name, copyThreads, injected);
    }

    /** Makes the copy engine fail the pages {@code injector} chooses (NONE to stop). */
    public void failWith(CopyFaultInjector injector) {
        this.injector = injector;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public MemoryType memoryType() {
        return type;
    }

    @Override
    public long capacityBytes() {
        return capacity;
    }

    @Override
    public PageStore createPageStore(long frames, int pageSize, DataPlane plane) {
        return PageStore.create(plane, frames, pageSize);
    }

    @Override
    public CopyEngine copyEngine() {
        return copy;
    }

    @Override
    public Object owner() {
        return owner;
    }
}
