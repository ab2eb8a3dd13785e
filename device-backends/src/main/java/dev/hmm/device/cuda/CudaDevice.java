package dev.hmm.device.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;

import dev.hmm.mm.CopyEngine;
import dev.hmm.mm.DataPlane;
import dev.hmm.mm.DeviceDriver;
import dev.hmm.mm.MemoryType;
import dev.hmm.mm.PageStore;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A real NVIDIA GPU as a device-private memory node ({@code MEMORY_DEVICE_PRIVATE}: the CPU cannot address it, a CPU
 * touch faults and migrates the page back), driven through the CUDA driver API with FFM. Its frames are one
 * {@code cuMemAlloc} ({@link CudaPageStore}); its copy engine is a gather kernel launched once per batch
 * ({@link CudaCopyEngine}), reading and writing system RAM in place. The engine does the rest, as it does for the
 * simulated device: the pagemap, migration, faults, eviction. With {@link DataPlane#METADATA} no GPU memory is
 * allocated and no copy is launched, but the driver is still opened.
 *
 * {@snippet lang = "java" :
 * Device gpu = engine.attachDevice(new CudaDevice(CudaDeviceConfig.of("gpu0", 8L << 30)));
 * }
 *
 * @throws CudaException from the constructor if there is no driver, no such GPU, or it has less memory than asked
 */
public final class CudaDevice implements DeviceDriver {
    /** The bundled kernel: {@code src/main/cuda/hmm_copy_pages.cu}, compiled to PTX. */
    static final String KERNEL_RESOURCE = "hmm_copy_pages.ptx";
    static final String KERNEL_NAME = "hmm_copy_pages";

    private final CudaDeviceConfig config;
    private final CudaContext ctx;
    private final MemorySegment module;
    private final CudaCopyEngine copyEngine;
    private boolean closed;

    public CudaDevice(CudaDeviceConfig config) {
        this.config = config;
        CudaDriver driver = new CudaDriver(config.library());
        this.ctx = CudaContext.open(driver, config.ordinal());
        try {
            if (config.capacityBytes() > ctx.totalMemory) {
                throw new CudaException("CUDA device " + config.ordinal() + " (" + ctx.gpuName + ") has "
                        + (ctx.totalMemory >> 20) + " MiB; " + config.name() + " asks for "
                        + (config.capacityBytes() >> 20) + " MiB");
            }
            ctx.makeCurrent();
            try (Arena a = Arena.ofConfined()) {
                MemorySegment out = a.allocate(ADDRESS);
                driver.check(driver.moduleLoadData(out, a.allocateFrom(kernelSource())),
                        "cuModuleLoadData(" + KERNEL_RESOURCE + ")");
                this.module = out.get(ADDRESS, 0);
                int rc = driver.moduleGetFunction(out, module, a.allocateFrom(KERNEL_NAME));
                if (rc != 0) {
                    driver.moduleUnload(module);
                    driver.check(rc, "cuModuleGetFunction(" + KERNEL_NAME + ")");
                }
                this.copyEngine = new CudaCopyEngine(ctx, out.get(ADDRESS, 0));
            }
        } catch (RuntimeException e) {
            ctx.release();
            throw e;
        }
    }

    private static String kernelSource() {
        try (InputStream in = CudaDevice.class.getResourceAsStream(KERNEL_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("the CUDA kernel " + KERNEL_RESOURCE + " is missing from the class "
                        + "path (device-backends jar)");
            }
            return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + KERNEL_RESOURCE, e);
        }
    }

    public CudaDeviceConfig config() {
        return config;
    }

    /** The GPU's own name ({@code cuDeviceGetName}), e.g. "NVIDIA H100 80GB HBM3". */
    public String gpuName() {
        return ctx.gpuName;
    }

    /** The GPU's memory in bytes ({@code cuDeviceTotalMem}). */
    public long gpuMemoryBytes() {
        return ctx.totalMemory;
    }

    /** The driver's CUDA version ({@code cuDriverGetVersion}: 13000 for CUDA 13.0). */
    public int driverVersion() {
        return ctx.driverVersion;
    }

    /** Copy kernels launched so far. */
    public long kernelLaunches() {
        return copyEngine.launches();
    }

    /** Batches the GPU failed (their pages rolled back), and the driver's message for the last one (or null). */
    public long failedBatches() {
        return copyEngine.failedBatches();
    }

    public String lastCopyError() {
        return copyEngine.lastError();
    }

    /**
     * The copy ceiling for {@code bytes}: a pinned host buffer and a device buffer of that size, copied with one bulk
     * {@code cuMemcpyHtoD} and one {@code cuMemcpyDtoH} (what the CUDA probe measured at 55 GB/s each way on an H100).
     */
    public CudaCopyCeiling copyCeiling(long bytes) {
        return new CudaCopyCeiling(ctx, bytes);
    }

    @Override
    public String name() {
        return config.name();
    }

    @Override
    public MemoryType memoryType() {
        return MemoryType.DEVICE_PRIVATE;
    }

    @Override
    public long capacityBytes() {
        return config.capacityBytes();
    }

    @Override
    public PageStore createPageStore(long frames, int pageSize, DataPlane plane) {
        return plane == DataPlane.REAL ? new CudaPageStore(ctx, frames, pageSize) : PageStore.metadata(frames, pageSize);
    }

    @Override
    public CopyEngine copyEngine() {
        return copyEngine;
    }

    /** Closes the copy engine and unloads the kernel; the GPU memory goes when the engine closes the page store. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            copyEngine.close();
        } finally {
            ctx.freeAndRelease(new CudaContext.Freeing("cuModuleUnload", () -> ctx.driver.moduleUnload(module)));
        }
    }

    @Override
    public String toString() {
        return "CudaDevice[" + config.name() + ", GPU " + config.ordinal() + " " + ctx.gpuName + ", "
                + (config.capacityBytes() >> 20) + " MiB]";
    }
}
