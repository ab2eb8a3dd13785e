package dev.hmm.sim;

import dev.hmm.cli.Sizes;
import dev.hmm.device.sim.SimDeviceConfig;
import dev.hmm.mm.DataPlane;
import dev.hmm.mm.EngineConfig;
import dev.hmm.mm.EvictionConfig;
import dev.hmm.mm.FaultServiceConfig;
import dev.hmm.mm.MemoryType;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Everything {@code ./hmm simulate} runs with; the CLI options are the whole configuration. Validated on
 * construction: a configuration that cannot run throws {@link BadInputException} naming the option.
 *
 * @param workload the access pattern
 * @param footprint bytes of the simulated buffer (rounded up to pages)
 * @param deviceMemory bytes of memory per device
 * @param deviceType private (not CPU-addressable) or coherent (CDM)
 * @param pageSize 4 KiB, 64 KiB or 2 MiB
 * @param ram system RAM; 0 means "as large as the footprint"
 * @param cpuThreads CPU accessor threads
 * @param deviceThreads device accessor threads (spread over the devices)
 * @param copyThreads copy-engine threads per device
 * @param migrateBatch pages per migrate_vma call and copy batch
 * @param accesses page accesses in total; 0 means the default, 8 per footprint page (two pingpong rounds)
 * @param seed seed of every random choice
 * @param data REAL (bytes copied and checked) or METADATA (no bytes)
 * @param devices simulated devices, each its own owner, each with {@code deviceMemory}
 * @param faults fault-buffer servicing of every device (batch size, replay policy, atomics)
 * @param accessSize bytes per access, a multiple of the page size: a device access over several pages faults them
 *     all at once (a warp's lanes), which is what lets the fault buffer batch
 * @param eviction eviction policy name ({@code none} for no eviction: a full device maps the rest remotely)
 * @param evictWatermark bytes of device memory kept free by background reclaim; 0 evicts on demand only
 * @param reclaimCluster the fewest frames one direct reclaim frees ({@code --reclaim-cluster}; see
 *     {@link dev.hmm.mm.EvictionConfig#reclaimCluster})
 * @param file the file the workload maps ({@code --file}); null for anonymous memory
 * @param mapping how {@code file} is mapped: shared (writes reach the file) or private (copy on write)
 * @param backend the devices: simulated, or GPU 0 through the CUDA driver ({@code --backend cuda}; each device is
 *     then its own {@code cuMemAlloc} of {@code deviceMemory} on that GPU)
 * @param cudaLibrary the CUDA driver library ({@code --cuda-library}), for {@link DeviceBackend#CUDA}
 * @param asyncCopy each simulated device's copy engine is asynchronous ({@code --async-copy}): {@code copyThreads}
 *     threads of its own copy while the migrating thread does the next chunk's page-table work, as a GPU's copy
 *     engines do ({@link SimDeviceConfig#asyncCopy}); the cuda backend's copies are asynchronous either way
 */
public record SimulationConfig(Workload workload, long footprint, long deviceMemory, MemoryType deviceType,
        int pageSize, long ram, int cpuThreads, int deviceThreads, int copyThreads, int migrateBatch, long accesses,
        long seed, DataPlane data, int devices, FaultServiceConfig faults, long accessSize, String eviction,
        long evictWatermark, int reclaimCluster, Path file, FileMapping mapping, DeviceBackend backend,
        String cudaLibrary, boolean asyncCopy) {

    /** {@code --mapping}: MAP_SHARED or MAP_PRIVATE. */
    public enum FileMapping {
        SHARED, PRIVATE
    }

    /** {@code --backend}: the simulated device, or a real GPU through the CUDA driver. */
    public enum DeviceBackend {
        SIM, CUDA
    }

    /** The same, with synchronous copy engines. */
    public SimulationConfig(Workload workload, long footprint, long deviceMemory, MemoryType deviceType, int pageSize,
            long ram, int cpuThreads, int deviceThreads, int copyThreads, int migrateBatch, long accesses, long seed,
            DataPlane data, int devices, FaultServiceConfig faults, long accessSize, String eviction,
            long evictWatermark, int reclaimCluster, Path file, FileMapping mapping, DeviceBackend backend,
            String cudaLibrary) {
        this(workload, footprint, deviceMemory, deviceType, pageSize, ram, cpuThreads, deviceThreads, copyThreads,
                migrateBatch, accesses, seed, data, devices, faults, accessSize, eviction, evictWatermark,
                reclaimCluster, file, mapping, backend, cudaLibrary, false);
    }

    /** The same, on the simulated device. */
    public SimulationConfig(Workload workload, long footprint, long deviceMemory, MemoryType deviceType, int pageSize,
            long ram, int cpuThreads, int deviceThreads, int copyThreads, int migrateBatch, long accesses, long seed,
            DataPlane data, int devices, FaultServiceConfig faults, long accessSize, String eviction,
            long evictWatermark, int reclaimCluster, Path file, FileMapping mapping) {
        this(workload, footprint, deviceMemory, deviceType, pageSize, ram, cpuThreads, deviceThreads, copyThreads,
                migrateBatch, accesses, seed, data, devices, faults, accessSize, eviction, evictWatermark,
                reclaimCluster, file, mapping, DeviceBackend.SIM, null, false);
    }

    public SimulationConfig {
        if (mapping == null) {
            mapping = FileMapping.SHARED;
        }
        if (backend == null) {
            backend = DeviceBackend.SIM;
        }
        if (cudaLibrary == null) {
            cudaLibrary = dev.hmm.device.cuda.CudaDeviceConfig.DEFAULT_LIBRARY;
        }
        if (backend == DeviceBackend.CUDA && deviceType != MemoryType.DEVICE_PRIVATE) {
            throw new BadInputException("--device-type", "the cuda backend's GPU memory is not CPU-addressable; "
                    + "expected private");
        }
        if (backend == DeviceBackend.CUDA && copyThreads != 1) {
            throw new BadInputException("--copy-threads", "the cuda backend copies with GPU kernels, not CPU threads; "
                    + "expected 1, got " + copyThreads);
        }
        if (!(pageSize == EngineConfig.PAGE_4K || pageSize == EngineConfig.PAGE_64K
                || pageSize == EngineConfig.PAGE_2M)) {
            throw new BadInputException("--page-size", "unsupported page size " + Sizes.format(pageSize)
                    + " (expected 4KiB, 64KiB or 2MiB)");
        }
        positive("--footprint", footprint);
        positive("--device-memory", deviceMemory);
        if (deviceMemory % pageSize != 0) {
            throw new BadInputException("--device-memory", Sizes.format(deviceMemory)
                    + " is not a multiple of the page size " + Sizes.format(pageSize));
        }
        if (deviceType != MemoryType.DEVICE_PRIVATE && deviceType != MemoryType.DEVICE_COHERENT) {
            throw new BadInputException("--device-type", "expected private or coherent, got " + deviceType);
        }
        if (ram < 0) {
            throw new BadInputException("--ram", "must be positive (or 0 for the footprint's size): " + ram);
        }
        if (ram % pageSize != 0) {
            throw new BadInputException("--ram", Sizes.format(ram) + " is not a multiple of the page size "
                    + Sizes.format(pageSize));
        }
        if (cpuThreads < 0 || cpuThreads > 1024) {
            throw new BadInputException("--cpu-threads", "expected 0..1024, got " + cpuThreads);
        }
        if (deviceThreads < 0 || deviceThreads > 1024) {
            throw new BadInputException("--device-threads", "expected 0..1024, got " + deviceThreads);
        }
        if (cpuThreads + deviceThreads == 0) {
            throw new BadInputException("--cpu-threads", "no accessor thread at all (cpu and device threads are 0)");
        }
        if (copyThreads < 1 || copyThreads > 256) {
            throw new BadInputException("--copy-threads", "expected 1..256, got " + copyThreads);
        }
        if (migrateBatch < 1 || migrateBatch > 1 << 20) {
            throw new BadInputException("--migrate-batch", "expected 1..1048576 pages, got " + migrateBatch);
        }
        if (devices < 1 || devices > 64) {
            throw new BadInputException("--devices", "expected 1..64, got " + devices);
        }
        if (accessSize < pageSize || accessSize % pageSize != 0 || accessSize > 64L << 20) {
            throw new BadInputException("--access-size", Sizes.format(accessSize) + " is not a multiple of the page "
                    + "size " + Sizes.format(pageSize) + " up to 64MiB");
        }
        if (eviction == null || eviction.isBlank()) {
            throw new BadInputException("--eviction", "expected a policy name or none");
        }
        if (evictWatermark < 0 || evictWatermark >= deviceMemory) {
            throw new BadInputException("--evict-watermark", Sizes.format(Math.max(0, evictWatermark))
                    + " must be below the device memory " + Sizes.format(deviceMemory));
        }
        if (evictWatermark > 0 && eviction.equalsIgnoreCase("none")) {
            throw new BadInputException("--evict-watermark", "needs an eviction policy, not none");
        }
        if (reclaimCluster < 1 || reclaimCluster > 1 << 16) {
            throw new BadInputException("--reclaim-cluster", reclaimCluster + " is outside 1..65536 frames");
        }
        if (faults == null) {
            throw new BadInputException("--fault-batch", "no fault-servicing configuration");
        }
        if (accesses < 0) {
            throw new BadInputException("--accesses", "must not be negative: " + accesses);
        }
        long pages = pages(footprint, pageSize);
        if (pages > Integer.MAX_VALUE - 8) {
            throw new BadInputException("--footprint", Sizes.format(footprint) + " is more than 2^31 pages of "
                    + Sizes.format(pageSize));
        }
        long ramBytes = ram == 0 ? defaultRam(pages, pageSize, file, mapping) : ram;
        if (ramBytes / pageSize > Integer.MAX_VALUE - 8) {
            throw new BadInputException("--ram", Sizes.format(ramBytes) + " is more than 2^31 frames");
        }
        if (deviceMemory / pageSize > Integer.MAX_VALUE - 8) {
            throw new BadInputException("--device-memory", Sizes.format(deviceMemory) + " is more than 2^31 frames");
        }
        if (pages * pageSize > ramBytes + deviceMemory * devices) {
            throw new BadInputException("--footprint", Sizes.format(footprint) + " cannot fit in device memory ("
                    + devices + " x " + Sizes.format(deviceMemory) + ") plus RAM (" + Sizes.format(ramBytes) + ")");
        }
        if (pages * pageSize > ramBytes && cpuThreads > 0) {
            throw new BadInputException("--ram", Sizes.format(ramBytes) + " cannot hold the " + Sizes.format(footprint)
                    + " footprint the CPU threads touch (every CPU access brings its page to RAM)");
        }
        if (file != null && mapping == FileMapping.PRIVATE && cpuThreads > 0
                && ramBytes < defaultRam(pages, pageSize, file, mapping)) {
            throw new BadInputException("--ram", Sizes.format(ramBytes) + " cannot hold the private copies of the "
                    + Sizes.format(footprint) + " footprint plus the page cache they are copied from (expected at least "
                    + Sizes.format(defaultRam(pages, pageSize, file, mapping)) + ")");
        }
    }

    /**
     * RAM when {@code --ram} is not given: the footprint; a private file mapping also needs page-cache frames to copy
     * from (MAP_PRIVATE holds both the file's page and the private copy for a moment), so it gets 1/16 more, at
     * least 64 pages.
     */
    private static long defaultRam(long pages, int pageSize, Path file, FileMapping mapping) {
        long extra = file != null && mapping == FileMapping.PRIVATE ? Math.max(64, pages / 16) : 0;
        return (pages + extra) * pageSize;
    }

    private static void positive(String option, long v) {
        if (v <= 0) {
            throw new BadInputException(option, "must be a positive size, got " + v);
        }
    }

    private static long pages(long bytes, int pageSize) {
        return (bytes + pageSize - 1) / pageSize;
    }

    /** The defaults of {@code ./hmm simulate}. */
    public static SimulationConfig defaults() {
        return new SimulationConfig(Workload.PINGPONG, 256L << 20, 512L << 20, MemoryType.DEVICE_PRIVATE,
                EngineConfig.PAGE_4K, 0, 2, 2, 1, EngineConfig.DEFAULT_BATCH, 0, 42, DataPlane.REAL, 1,
                FaultServiceConfig.defaults(), 64 * 1024, "lru", 0, EvictionConfig.SWAP_CLUSTER_MAX, null,
                FileMapping.SHARED);
    }

    /** Pages per access. */
    public int accessPages() {
        return (int) (accessSize / pageSize);
    }

    /** Accesses that cover the footprint once (the last may be short). */
    public long chunks() {
        return (footprintPages() + accessPages() - 1) / accessPages();
    }

    public long footprintPages() {
        return pages(footprint, pageSize);
    }

    /** The footprint rounded up to whole pages. */
    public long footprintBytes() {
        return footprintPages() * pageSize;
    }

    public long ramBytes() {
        return ram == 0 ? defaultRam(footprintPages(), pageSize, file, mapping) : ram;
    }

    /** Page accesses to make: {@code accesses}, or 8 per footprint page. */
    public long accessBudget() {
        return accesses > 0 ? accesses : 8 * footprintPages();
    }

    /** Oversubscription: footprint over the memory of all devices, in percent (125 = 25% more than fits). */
    public double oversubscriptionPercent() {
        return 100.0 * footprintBytes() / ((double) deviceMemory * devices);
    }

    public EngineConfig engineConfig() {
        return new EngineConfig(pageSize, data, ramBytes(), migrateBatch);
    }

    /** Every option, by its command-line name, in camelCase, for the report. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("workload", workload.name().toLowerCase(Locale.ROOT));
        m.put("footprint", footprint);
        m.put("deviceMemory", deviceMemory);
        m.put("deviceType", deviceType == MemoryType.DEVICE_PRIVATE ? "private" : "coherent");
        m.put("pageSize", pageSize);
        m.put("ram", ramBytes());
        m.put("cpuThreads", cpuThreads);
        m.put("deviceThreads", deviceThreads);
        m.put("copyThreads", copyThreads);
        m.put("asyncCopy", asyncCopy);
        m.put("migrateBatch", migrateBatch);
        m.put("accesses", accessBudget());
        m.put("seed", seed);
        m.put("data", data.name().toLowerCase(Locale.ROOT));
        m.put("devices", devices);
        m.put("faultBatch", faults.maxBatch());
        m.put("replayPolicy", faults.replayPolicy().name().toLowerCase(Locale.ROOT).replace('_', '-'));
        m.put("faultBuffer", faults.bufferEntries());
        m.put("atomics", faults.exclusiveAtomics() ? "exclusive" : "migrate");
        m.put("faultServicing", faults.faultingThreadServices() ? "combining" : "thread");
        m.put("accessSize", accessSize);
        m.put("eviction", eviction.toLowerCase(Locale.ROOT));
        m.put("evictWatermark", evictWatermark);
        m.put("reclaimCluster", reclaimCluster);
        m.put("readDuplication", faults.readDuplication());
        m.put("file", file == null ? null : file.toString());
        m.put("mapping", file == null ? "anonymous" : mapping.name().toLowerCase(Locale.ROOT));
        m.put("backend", backend.name().toLowerCase(Locale.ROOT));
        if (backend == DeviceBackend.CUDA) {
            m.put("cudaLibrary", cudaLibrary);
        }
        return m;
    }
}
