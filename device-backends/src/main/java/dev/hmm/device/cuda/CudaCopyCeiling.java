package dev.hmm.device.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The reference a GPU migration is measured against: the same number of bytes copied in bulk between page-locked host
 * memory ({@code cuMemAllocHost}) and device memory, with one synchronous {@code cuMemcpyHtoD} and one
 * {@code cuMemcpyDtoH}: the PCIe link's practical ceiling, with none of the engine's work and no scattered pages.
 */
public final class CudaCopyCeiling implements AutoCloseable {
    private final CudaContext ctx;
    private final long bytes;
    private final MemorySegment host;
    private final long device;
    private boolean closed;

    CudaCopyCeiling(CudaContext ctx, long bytes) {
        this.ctx = ctx;
        this.bytes = bytes;
        ctx.makeCurrent();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_LONG);
            ctx.driver.check(ctx.driver.memAllocHost(out, bytes), "cuMemAllocHost of the ceiling's host buffer");
            host = out.get(ADDRESS, 0).reinterpret(bytes);
            int rc = ctx.driver.memAlloc(out, bytes);
            if (rc != 0) {
                ctx.driver.memFreeHost(host);
                ctx.driver.check(rc, "cuMemAlloc of the ceiling's device buffer");
            }
            device = out.get(JAVA_LONG, 0);
        }
        host.fill((byte) 1);
        ctx.retain();
    }

    public long bytes() {
        return bytes;
    }

    /** Host to device, then back. Returns the last byte, so that the caller can consume it. */
    public byte roundTrip() {
        ctx.makeCurrent();
        ctx.driver.check(ctx.driver.memcpyHtoD(device, host, bytes), "cuMemcpyHtoD");
        ctx.driver.check(ctx.driver.memcpyDtoH(host, device, bytes), "cuMemcpyDtoH");
        return host.get(java.lang.foreign.ValueLayout.JAVA_BYTE, bytes - 1);
    }

    /** Host to device only. */
    public void toDevice() {
        ctx.makeCurrent();
        ctx.driver.check(ctx.driver.memcpyHtoD(device, host, bytes), "cuMemcpyHtoD");
    }

    /** Device to host only. Returns the last byte. */
    public byte toHost() {
        ctx.makeCurrent();
        ctx.driver.check(ctx.driver.memcpyDtoH(host, device, bytes), "cuMemcpyDtoH");
        return host.get(java.lang.foreign.ValueLayout.JAVA_BYTE, bytes - 1);
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        ctx.freeAndRelease(new CudaContext.Freeing("cuMemFree", () -> ctx.driver.memFree(device)),
                new CudaContext.Freeing("cuMemFreeHost", () -> ctx.driver.memFreeHost(host)));
    }
}
