package dev.hmm.device.cuda;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.hmm.mm.PageStore;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * A device's frames in GPU memory: one {@code cuMemAlloc} of {@code frames * pageSize} bytes, frame {@code i} at
 * offset {@code i * pageSize} (the range a driver hands {@code memremap_pages} for device-private memory). Not
 * host-addressable, so {@link #memory()} is {@link MemorySegment#NULL}: migrations copy through the
 * {@link CudaCopyEngine}, and the engine's device accesses through {@link #read}/{@link #write} (synchronous
 * {@code cuMemcpyDtoH}/{@code cuMemcpyHtoD}). A real GPU does not zero new memory: the engine zero-fills every frame it
 * hands out before use ({@code CopyBatch.FILL}), so neither does this store.
 */
final class CudaPageStore implements PageStore {
    private final CudaContext ctx;
    private final long frames;
    private final int pageSize;
    private final long bytes;
    private final long base;
    private boolean closed;

    CudaPageStore(CudaContext ctx, long frames, int pageSize) {
        this.ctx = ctx;
        this.frames = frames;
        this.pageSize = pageSize;
        this.bytes = frames * pageSize;
        ctx.makeCurrent();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_LONG);
            ctx.driver.check(ctx.driver.memAlloc(out, bytes), "cuMemAlloc of " + (bytes >> 20) + " MiB on "
                    + ctx.gpuName);
            this.base = out.get(JAVA_LONG, 0);
        }
        ctx.retain();
    }

    CudaContext context() {
        return ctx;
    }

    /** The {@code CUdeviceptr} of frame 0. */
    long devicePointer() {
        return base;
    }

    @Override
    public boolean hasData() {
        return true;
    }

    @Override
    public MemorySegment memory() {
        return MemorySegment.NULL;
    }

    @Override
    public int pageSize() {
        return pageSize;
    }

    @Override
    public long frames() {
        return frames;
    }

    @Override
    public void read(long offset, MemorySegment dst, long dstOffset, long n) {
        Objects.checkFromIndexSize(offset, n, bytes);
        ctx.makeCurrent();
        if (dst.isNative()) {
            ctx.driver.check(ctx.driver.memcpyDtoH(dst.asSlice(dstOffset, n), base + offset, n), "cuMemcpyDtoH");
            return;
        }
        try (Arena a = Arena.ofConfined()) { // a heap buffer cannot be handed to the driver: bounce it
            MemorySegment bounce = a.allocate(n);
            ctx.driver.check(ctx.driver.memcpyDtoH(bounce, base + offset, n), "cuMemcpyDtoH");
            MemorySegment.copy(bounce, 0, dst, dstOffset, n);
        }
    }

    @Override
    public void write(MemorySegment src, long srcOffset, long offset, long n) {
        Objects.checkFromIndexSize(offset, n, bytes);
        ctx.makeCurrent();
        if (src.isNative()) {
            ctx.driver.check(ctx.driver.memcpyHtoD(base + offset, src.asSlice(srcOffset, n), n), "cuMemcpyHtoD");
            return;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment bounce = a.allocate(n);
            MemorySegment.copy(src, srcOffset, bounce, 0, n);
            ctx.driver.check(ctx.driver.memcpyHtoD(base + offset, bounce, n), "cuMemcpyHtoD");
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        ctx.freeAndRelease(new CudaContext.Freeing("cuMemFree", () -> ctx.driver.memFree(base)));
    }
}
