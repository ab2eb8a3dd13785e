package dev.hmm.device.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * One GPU's primary context ({@code cuDevicePrimaryCtxRetain}: the context the CUDA runtime shares, so that a
 * process embedding the engine next to CUDA code sees one context, not two), reference-counted between the
 * {@link CudaDevice} and its {@link CudaPageStore}, which the engine closes after the device. A CUDA context is
 * current per thread: every entry point that calls the driver first calls {@link #makeCurrent} on its own thread (the
 * engine migrates from any thread: accessors, the fault servicing thread, the background reclaimer).
 */
final class CudaContext {
    final CudaDriver driver;
    /** The {@code CUdevice}. */
    final int device;
    final int ordinal;
    final String gpuName;
    final long totalMemory;
    final int driverVersion;
    private final MemorySegment ctx;
    private int refs = 1;

    private CudaContext(CudaDriver driver, int device, int ordinal, String gpuName, long totalMemory, int driverVersion,
            MemorySegment ctx) {
        this.driver = driver;
        this.device = device;
        this.ordinal = ordinal;
        this.gpuName = gpuName;
        this.totalMemory = totalMemory;
        this.driverVersion = driverVersion;
        this.ctx = ctx;
    }

    /** Initializes the driver and retains GPU {@code ordinal}'s primary context. */
    static CudaContext open(CudaDriver driver, int ordinal) {
        try (Arena a = Arena.ofConfined()) {
            int rc = driver.init(0);
            if (rc == 100) { // CUDA_ERROR_NO_DEVICE
                throw new CudaException(rc, driver.errorName(rc), "no CUDA device: the driver (" + driver.library
                        + ") sees no GPU");
            }
            driver.check(rc, "cuInit");
            MemorySegment out = a.allocate(JAVA_LONG);
            driver.check(driver.driverGetVersion(out), "cuDriverGetVersion");
            int version = out.get(JAVA_INT, 0);
            driver.check(driver.deviceGetCount(out), "cuDeviceGetCount");
            int count = out.get(JAVA_INT, 0);
            if (ordinal >= count) {
                throw new CudaException("no CUDA device " + ordinal + ": the driver sees " + count + " GPU(s), "
                        + "numbered from 0");
            }
            driver.check(driver.deviceGet(out, ordinal), "cuDeviceGet(" + ordinal + ")");
            int dev = out.get(JAVA_INT, 0);
            MemorySegment name = a.allocate(256);
            driver.check(driver.deviceGetName(name, 256, dev), "cuDeviceGetName");
            driver.check(driver.deviceTotalMem(out, dev), "cuDeviceTotalMem");
            long total = out.get(JAVA_LONG, 0);
            for (int attr : new int[] {CudaDriver.CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING,
                    CudaDriver.CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY}) {
                driver.check(driver.deviceGetAttribute(out, attr, dev), "cuDeviceGetAttribute(" + attr + ")");
                if (out.get(JAVA_INT, 0) == 0) {
                    throw new CudaException("CUDA device " + ordinal + " (" + name.getString(0) + ") cannot map host "
                            + "memory into a unified address space (attribute " + attr + "), which the copy kernel "
                            + "needs");
                }
            }
            MemorySegment pctx = a.allocate(ADDRESS);
            driver.check(driver.primaryCtxRetain(pctx, dev), "cuDevicePrimaryCtxRetain");
            return new CudaContext(driver, dev, ordinal, name.getString(0), total, version, pctx.get(ADDRESS, 0));
        }
    }

    /** Makes the context current on the calling thread. */
    void makeCurrent() {
        driver.check(driver.ctxSetCurrent(ctx), "cuCtxSetCurrent");
    }

    /** A driver call that frees something, and its name for the message if it fails. */
    record Freeing(String call, java.util.function.IntSupplier rc) {
    }

    /**
     * What every owner of GPU resources does on close: makes the context current, runs each freeing call even if an
     * earlier one failed, then drops the owner's reference; throws the first failure.
     */
    void freeAndRelease(Freeing... frees) {
        CudaException first = null;
        try {
            makeCurrent();
            for (Freeing f : frees) {
                try {
                    driver.check(f.rc().getAsInt(), f.call());
                } catch (CudaException e) {
                    first = first == null ? e : first;
                }
            }
        } finally {
            release();
        }
        if (first != null) {
            throw first;
        }
    }

    synchronized void retain() {
        if (refs == 0) {
            throw new IllegalStateException("CUDA context of device " + ordinal + " already released");
        }
        refs++;
    }

    /** Drops one reference; the last releases the primary context. */
    synchronized void release() {
        if (refs == 0) {
            return;
        }
        if (--refs == 0) {
            driver.check(driver.primaryCtxRelease(device), "cuDevicePrimaryCtxRelease");
        }
    }
}
