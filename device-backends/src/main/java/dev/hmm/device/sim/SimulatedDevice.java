package dev.hmm.device.sim;

import dev.hmm.mm.CopyEngine;
import dev.hmm.mm.CopyFaultInjector;
import dev.hmm.mm.DataPlane;
import dev.hmm.mm.DeviceDriver;
import dev.hmm.mm.MemcpyCopyEngine;
import dev.hmm.mm.MemoryType;
import dev.hmm.mm.PageStore;

/**
 * A simulated device: its memory is off-heap host memory ({@link DataPlane#REAL}) or nothing
 * ({@link DataPlane#METADATA}), its copy engine a {@link MemcpyCopyEngine} with {@link SimDeviceConfig#copyThreads()}
 * threads, synchronous or, with {@link SimDeviceConfig#asyncCopy()}, asynchronous (a DMA engine beside the CPU). Copy failures can be injected at run time ({@link #injectCopyFailures}) to exercise rollback, as
 * {@code lib/test_hmm.c}'s {@code HMM_DMIRROR_FLAGS} does with {@code FAIL_ALLOC}.
 *
 * {@snippet lang = "java" :
 * Device gpu = engine.attachDevice(new SimulatedDevice(SimDeviceConfig.privateDevice("gpu0", 1L << 30)));
 * }
 */
public final class SimulatedDevice implements DeviceDriver {
    private final SimDeviceConfig config;
    private final MemcpyCopyEngine copyEngine;
    private volatile CopyFaultInjector injector = CopyFaultInjector.NONE;

    public SimulatedDevice(SimDeviceConfig config) {
        this.config = config;
        CopyFaultInjector injected = (seq, i, src, dst) -> injector.shouldFail(seq, i, src, dst);
        this.copyEngine = config.asyncCopy()
                ? MemcpyCopyEngine.dedicated(config.name(), config.copyThreads(), injected)
                : new MemcpyCopyEngine(config.name(), config.copyThreads(), injected);
    }

    public SimDeviceConfig config() {
        return config;
    }

    /** From now on, fail the pages {@code chooser} picks ({@link CopyFaultInjector#NONE} to stop). */
    public void injectCopyFailures(CopyFaultInjector chooser) {
        this.injector = chooser == null ? CopyFaultInjector.NONE : chooser;
    }

    @Override
    public String name() {
        return config.name();
    }

    @Override
    public MemoryType memoryType() {
        return config.type();
    }

    @Override
    public long capacityBytes() {
        return config.capacityBytes();
    }

    @Override
    public PageStore createPageStore(long frames, int pageSize, DataPlane plane) {
        return PageStore.create(plane, frames, pageSize);
    }

    @Override
    public CopyEngine copyEngine() {
        return copyEngine;
    }

    @Override
    public String toString() {
        return "SimulatedDevice" + config;
    }
}
