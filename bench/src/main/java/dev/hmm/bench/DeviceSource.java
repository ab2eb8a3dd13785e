package dev.hmm.bench;

import dev.hmm.device.cuda.CudaDevice;
import dev.hmm.device.cuda.CudaDeviceConfig;
import dev.hmm.device.sim.SimDeviceConfig;
import dev.hmm.device.sim.SimulatedDevice;
import dev.hmm.mm.DeviceDriver;

/**
 * Where a benchmark rig's device comes from: the simulated device ({@link #SIM}), or GPU 0 through the CUDA driver
 * ({@link #cuda}). A real GPU has one copy engine (its kernels), so it ignores {@code copyThreads}.
 */
@FunctionalInterface
public interface DeviceSource {

    /** A device-private device named {@code name} of {@code capacityBytes}. */
    DeviceDriver open(String name, long capacityBytes, int copyThreads);

    /** The simulated device: off-heap memory and a {@code MemorySegment.copy} copy engine. */
    DeviceSource SIM = (name, bytes, threads) -> new SimulatedDevice(
            SimDeviceConfig.privateDevice(name, bytes).withCopyThreads(threads));

    /**
     * The simulated device with an asynchronous copy engine ({@link SimDeviceConfig#asyncCopy}): {@code copyThreads}
     * threads of its own copy while the migrating thread does the next chunk's page-table work, as a GPU's copy
     * engines do.
     */
    DeviceSource SIM_ASYNC = (name, bytes, threads) -> new SimulatedDevice(
            SimDeviceConfig.privateDevice(name, bytes).withCopyThreads(threads).withAsyncCopy(true));

    /**
     * A diagnostic, not a device: the simulated device's memory (REAL bytes if the engine has them) with a copy engine
     * that copies nothing. A REAL migration on it costs what the engine's own work costs in the REAL layout, without
     * the copy and without the cache lines the copy would evict ({@code -p backend=nocopy} in JMH). Its pages hold
     * garbage after a migration: never use it where data is checked.
     */
    DeviceSource NO_COPY = (name, bytes, threads) -> new DeviceDriver() {
        private final dev.hmm.mm.CopyEngine none = new dev.hmm.mm.CopyEngine() {
            @Override
            public void copy(dev.hmm.mm.CopyBatch batch) {
            }

            @Override
            public int threads() {
                return 1;
            }
        };

        @Override
        public String name() {
            return name;
        }

        @Override
        public dev.hmm.mm.MemoryType memoryType() {
            return dev.hmm.mm.MemoryType.DEVICE_PRIVATE;
        }

        @Override
        public long capacityBytes() {
            return bytes;
        }

        @Override
        public dev.hmm.mm.PageStore createPageStore(long frames, int pageSize, dev.hmm.mm.DataPlane plane) {
            return dev.hmm.mm.PageStore.create(plane, frames, pageSize);
        }

        @Override
        public dev.hmm.mm.CopyEngine copyEngine() {
            return none;
        }
    };

    /**
     * Attaches {@code driver} to {@code engine} (with the engine's default fault servicing and no eviction when
     * {@code faults} and {@code eviction} are null), closing the driver if that fails: a GPU's context and memory
     * must not outlive a rig that could not be built.
     */
    static dev.hmm.mm.Device attach(dev.hmm.mm.HmmEngine engine, DeviceDriver driver,
            dev.hmm.mm.FaultServiceConfig faults, dev.hmm.mm.EvictionConfig eviction) {
        try {
            if (faults == null) {
                return engine.attachDevice(driver);
            }
            return eviction == null ? engine.attachDevice(driver, faults) : engine.attachDevice(driver, faults,
                    eviction);
        } catch (RuntimeException | Error e) {
            driver.close();
            throw e;
        }
    }

    /**
     * The source a JMH {@code backend} parameter names: {@code sim}, {@code sim-async} ({@link #SIM_ASYNC}),
     * {@code nocopy} ({@link #NO_COPY}), or {@code cuda} (GPU 0 through the driver library of the system property
     * {@code hmm.cuda.library}, default {@code libcuda.so.1}).
     */
    static DeviceSource named(String backend) {
        return switch (backend) {
            case "sim" -> SIM;
            case "nocopy" -> NO_COPY;
            case "sim-async" -> SIM_ASYNC;
            case "cuda" -> cuda(System.getProperty("hmm.cuda.library", CudaDeviceConfig.DEFAULT_LIBRARY));
            default -> throw new IllegalArgumentException("backend=" + backend
                    + ": expected sim, sim-async, cuda or nocopy");
        };
    }

    /**
     * GPU 0 through the CUDA driver library {@code library} ({@link CudaDeviceConfig#DEFAULT_LIBRARY} from the loader
     * path, or a path).
     */
    static DeviceSource cuda(String library) {
        return (name, bytes, threads) -> new CudaDevice(CudaDeviceConfig.of(name, bytes).withLibrary(library));
    }
}
