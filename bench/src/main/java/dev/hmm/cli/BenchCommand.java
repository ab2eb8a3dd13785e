package dev.hmm.cli;

import dev.hmm.bench.DeviceSource;
import dev.hmm.bench.FaultRig;
import dev.hmm.bench.Measure;
import dev.hmm.bench.MigrateRig;
import dev.hmm.bench.ReplayRig;
import dev.hmm.device.cuda.CudaDevice;
import dev.hmm.device.cuda.CudaDeviceConfig;
import dev.hmm.device.cuda.CudaException;
import dev.hmm.mm.DataPlane;
import dev.hmm.policy.PolicyRegistry;
import dev.hmm.report.JsonReports;
import dev.hmm.sim.BadInputException;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code hmm bench}: quick throughput figures, each next to a ceiling measured in the same run, for people who do not
 * want to learn JMH (the JMH suite is {@code java -jar bench/target/benchmarks.jar}). Prints a table; {@code --json}
 * writes the rows as a {@code results} list.
 *
 * {@snippet lang = "shell" :
 * ./hmm bench migrate --json migrate.json
 * ./hmm bench faults
 * ./hmm bench replay --policies lru,fifo
 * }
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Measure engine throughput against a reference measured in the same run (under a minute).")
public final class BenchCommand implements Callable<Integer> {

    /** What to measure. */
    public enum Suite {
        MIGRATE, FAULTS, REPLAY, METADATA
    }

    /** Where the device is. */
    public enum Backend {
        SIM, CUDA
    }

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "SUITE",
            description = "migrate, faults, replay, or metadata (frame metadata bytes per frame, measured on the heap)")
    Suite suite;

    @Option(names = "--backend", paramLabel = "NAME",
            description = "sim (the simulated device) or cuda (GPU 0 through the CUDA driver; REAL data in every suite)"
                    + " (default: ${DEFAULT-VALUE})")
    Backend backend = Backend.SIM;

    @Option(names = "--cuda-library", paramLabel = "PATH",
            description = "cuda: the CUDA driver library (default: " + CudaDeviceConfig.DEFAULT_LIBRARY
                    + " from the loader path)")
    String cudaLibrary = CudaDeviceConfig.DEFAULT_LIBRARY;

    /** The rigs' device: the simulated one, or the GPU. */
    private DeviceSource source = DeviceSource.SIM;
    /** What the GPU said of itself, for the table's header and the JSON; null on the simulated device. */
    private Map<String, Object> gpu;

    @Option(names = "--json", paramLabel = "FILE", description = "also write the results as JSON to FILE")
    Path json;

    @Option(names = "--seconds", paramLabel = "S",
            description = "measured seconds per case and side, engine and reference alike (default: ${DEFAULT-VALUE})")
    double seconds = 0.4;

    @Option(names = "--warmup", paramLabel = "S",
            description = "warm-up seconds of every case before its measured slices, at least one slice (default: "
                    + FIRST_WARMUP + " s for the first case of a run and the first of each --copy mode, while the JIT "
                    + "compiles the engine's paths, " + LATER_WARMUP + " s for the others)")
    Double warmup;

    /** Default warm-up of a run's first case: shorter ones measured it half-compiled (faults at batch 32: 5x low). */
    static final double FIRST_WARMUP = 2.0;
    static final double LATER_WARMUP = 0.3;
    private final java.util.Set<String> warmedUp = new java.util.HashSet<>();

    /** The warm-up for the next case: {@code --warmup} if given, else the first case's or the later cases'. */
    private double nextWarmup() {
        return nextWarmup("");
    }

    /**
     * As {@link #nextWarmup()}, with the first case of each {@code path} warmed up as long as a run's first: an
     * asynchronous copy engine runs code (the pipeline, its copy threads) no earlier case compiled, and a short
     * warm-up measured it at a quarter of its speed.
     */
    private double nextWarmup(String path) {
        if (warmup != null) {
            return warmup;
        }
        boolean first = warmedUp.isEmpty() || !path.isEmpty() && !warmedUp.contains(path);
        warmedUp.add(path);
        return first ? FIRST_WARMUP : LATER_WARMUP;
    }

    @Option(names = "--page-sizes", paramLabel = "LIST", split = ",", converter = SizeConverter.class,
            description = "migrate: page sizes (default: 4KiB,64KiB,2MiB)")
    List<Long> pageSizes = List.of(4096L, 65536L, 2L << 20);

    @Option(names = "--batches", paramLabel = "LIST", split = ",",
            description = "migrate: pages per migrate_vma call (default: 1,32,512); faults: fault batch sizes (default: 32,256,1024)")
    List<Integer> batches;

    @Option(names = "--directions", paramLabel = "LIST", split = ",",
            description = "migrate: round-trip (RAM to device and back in one operation), to-device, to-ram (one way "
                    + "each, the pages put back untimed between operations) (default: round-trip)")
    List<String> directions = List.of("round-trip");

    @Option(names = "--threads", paramLabel = "LIST", split = ",",
            description = "migrate: copy threads (default: 1,2; with --backend cuda, 1: the GPU's kernels copy)")
    List<Integer> threads;

    @Option(names = "--copy", paramLabel = "LIST", split = ",",
            description = "migrate: sync (the migrating thread copies, helped by threads-1 others), async (the copy "
                    + "engine's own threads copy while the migrating thread does the next chunk's page-table work, as "
                    + "a GPU's copy engine does) (default: sync; with --backend cuda, async, the only mode it has)")
    List<String> copyModes;

    /**
     * Without {@code --copy}, on the simulated device, the case of the 80% target (4 KiB x 512, one copy thread) is
     * measured with the asynchronous engine too: the target is met only with it, and a default table that showed
     * only the synchronous row would hide that.
     */
    private boolean targetRowAsync;

    @Option(names = "--policies", paramLabel = "LIST", split = ",", description = "replay: eviction policies (default: all)")
    List<String> policies;

    @Option(names = "--reclaim-cluster", paramLabel = "N",
            description = "replay: the fewest frames one direct reclaim frees; 1 evicts exactly what each fault needs, so"
                    + " that lru's device faults equal the reference's misses (default: ${DEFAULT-VALUE})")
    int reclaimCluster = dev.hmm.mm.EvictionConfig.SWAP_CLUSTER_MAX;

    @Override
    public Integer call() {
        if (!(seconds > 0 && seconds <= 60)) {
            throw new BadInputException("--seconds", "expected a number of seconds in (0, 60], got " + seconds);
        }
        if (warmup != null && !(warmup >= 0 && warmup <= 60)) {
            throw new BadInputException("--warmup", "expected a number of seconds in [0, 60], got " + warmup);
        }
        if (json != null) {
            SimulateCommand.checkWritable("--json", json);
        }
        PrintWriter out = spec.commandLine().getOut();
        targetRowAsync = copyModes == null && backend == Backend.SIM;
        if (copyModes == null) {
            copyModes = List.of(backend == Backend.CUDA ? "async" : "sync");
        }
        for (String c : copyModes) {
            if (!List.of("sync", "async").contains(c)) {
                throw new BadInputException("--copy", "expected sync or async, got " + c);
            }
            if (c.equals("sync") && backend == Backend.CUDA) {
                throw new BadInputException("--copy", "the cuda backend's copies are GPU kernels on streams, always "
                        + "asynchronous; expected async, got sync");
            }
        }
        if (backend == Backend.CUDA) {
            openGpu(out);
        }
        List<Map<String, Object>> rows;
        try {
            rows = switch (suite) {
                case MIGRATE -> migrate(out);
                case FAULTS -> faults(out);
                case REPLAY -> replay(out);
                case METADATA -> metadata(out);
            };
        } catch (CudaException e) {
            throw new BadInputException("--backend", "cuda: " + e.getMessage());
        }
        if (json != null) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("suite", suite.name().toLowerCase(Locale.ROOT));
            doc.put("backend", backend.name().toLowerCase(Locale.ROOT));
            if (gpu != null) {
                doc.put("gpu", gpu);
            }
            doc.put("machine", machine());
            doc.put("date", Instant.now().toString());
            doc.put("secondsPerCase", seconds);
            doc.put("firstWarmupSeconds", warmup != null ? warmup : FIRST_WARMUP);
            doc.put("warmupSeconds", warmup != null ? warmup : LATER_WARMUP);
            doc.put("results", rows);
            try {
                JsonReports.write(json, doc);
            } catch (IOException e) {
                throw new BadInputException("--json", "cannot write " + json + " (" + e + "); the table above is the "
                        + "run's result");
            }
            out.println("results written to " + json);
        }
        return Main.EXIT_OK;
    }

    /**
     * Opens GPU 0 once before any case, so that a machine without a GPU or driver gets one clear line (exit 2), and the
     * table says which GPU it measured.
     */
    private void openGpu(PrintWriter out) {
        if (suite == Suite.METADATA) {
            throw new BadInputException("--backend", "metadata measures frame metadata on the heap, the same for every "
                    + "device; expected sim");
        }
        if (threads != null && !threads.equals(List.of(1))) {
            throw new BadInputException("--threads", "the cuda backend copies with GPU kernels, not CPU threads; "
                    + "expected 1, got " + threads);
        }
        DeviceSource cuda = DeviceSource.cuda(cudaLibrary);
        try (CudaDevice probe = (CudaDevice) cuda.open("probe", 1L << 20, 1)) {
            gpu = new LinkedHashMap<>();
            gpu.put("name", probe.gpuName());
            gpu.put("memoryBytes", probe.gpuMemoryBytes());
            gpu.put("driverVersion", probe.driverVersion());
            gpu.put("library", cudaLibrary);
            out.printf("GPU 0: %s, %s, CUDA driver %d.%d (%s)%n", probe.gpuName(), Sizes.format(probe.gpuMemoryBytes()),
                    probe.driverVersion() / 1000, probe.driverVersion() % 1000 / 10, cudaLibrary);
        } catch (CudaException e) {
            throw new BadInputException("--backend", "cuda: " + e.getMessage() + "; expected a machine with an NVIDIA "
                    + "GPU and driver (or --backend sim)");
        }
        source = cuda;
    }

    private List<Map<String, Object>> migrate(PrintWriter out) {
        List<Integer> bs = batches == null ? List.of(1, 32, 512) : batches;
        List<Integer> threads = this.threads != null ? this.threads : backend == Backend.CUDA ? List.of(1) : List.of(1, 2);
        for (long ps : pageSizes) {
            if (ps != 4096 && ps != 65536 && ps != 2L << 20) {
                throw new BadInputException("--page-sizes", Sizes.format(ps) + " is not 4KiB, 64KiB or 2MiB");
            }
        }
        positive("--batches", bs, 1 << 16);
        positive("--threads", threads, 64);
        for (String d : directions) {
            if (!List.of("round-trip", "to-device", "to-ram").contains(d)) {
                throw new BadInputException("--directions", "expected round-trip, to-device or to-ram, got " + d);
            }
        }
        out.printf("%-8s %6s %-11s %7s %-5s %11s %12s %7s%n", "page", "batch", "direction", "threads", "copy",
                "engineGBps", "ceilingGBps", "ratio");
        List<Map<String, Object>> rows = new ArrayList<>();
        for (long ps : pageSizes) {
            for (int b : bs) {
                for (int t : threads) {
                    if (ps * b > 1L << 30) {
                        continue; // 2 MiB x 512 would need 4 GiB of segments: beyond a quick run
                    }
                    List<String> modes = copyModes;
                    if (targetRowAsync && ps == 4096 && b == 512 && t == 1) {
                        modes = List.of("sync", "async"); // the 80% target's case, in both modes by default
                    }
                    for (String c : modes) {
                        for (String dir : directions) {
                            migrateCase(out, rows, ps, b, t, c, dir);
                        }
                    }
                }
            }
        }
        // METADATA: pages per second per core, next to a CPU touch of the same pages
        try (MigrateRig rig = new MigrateRig(4096, 512, 1, DataPlane.METADATA, source)) {
            double[] r = Measure.paired(Measure.Op.of(rig::roundTrip),
                    Measure.Op.of(() -> rig.touchAll() + rig.touchAll()), seconds, 5, nextWarmup());
            Map<String, Object> row = row(4096, 512, "metadata-round-trip", 1, r[0] * 4096 / 1e9, r[1] * 4096 / 1e9);
            row.put("enginePagesPerSecond", Math.round(r[0]));
            row.put("ceilingPagesPerSecond", Math.round(r[1]));
            row.put("ceiling", "CPU touch of the same resident pages");
            rows.add(row);
            out.printf("METADATA 4KiB x 512: %.2f M pages/s migrated (CPU touch of the same pages: %.2f M/s)%n",
                    r[0] / 1e6, r[1] / 1e6);
        }
        return rows;
    }

    /** One row of the migrate table: {@code copy} is sync or async, {@code dir} round-trip, to-device or to-ram. */
    private void migrateCase(PrintWriter out, List<Map<String, Object>> rows, long ps, int b, int t, String copy,
            String dir) {
        DeviceSource src = copy.equals("async") && backend == Backend.SIM ? DeviceSource.SIM_ASYNC : source;
        try (MigrateRig rig = new MigrateRig((int) ps, b, t, DataPlane.REAL, src)) {
            long bytes = (dir.equals("round-trip") ? 2 : 1) * rig.bytes();
            Measure.Op engine = switch (dir) {
                case "to-device" -> Measure.Op.of(rig::placeInRam, () -> {
                    rig.toDevice();
                    return bytes;
                });
                case "to-ram" -> Measure.Op.of(rig::placeOnDevice, () -> {
                    rig.toRam();
                    return bytes;
                });
                default -> Measure.Op.of(() -> {
                    rig.roundTrip();
                    return bytes;
                });
            };
            Measure.Op reference = Measure.Op.of(() -> {
                switch (dir) {
                    case "to-device" -> rig.referenceToDevice();
                    case "to-ram" -> rig.referenceToRam();
                    default -> rig.referenceRoundTrip();
                }
                return bytes;
            });
            double[] r = Measure.paired(engine, reference, seconds, 5, nextWarmup(copy));
            Map<String, Object> row = row(ps, b, dir, t, r[0] / 1e9, r[1] / 1e9);
            row.put("copy", copy);
            String calls = switch (dir) {
                case "to-device" -> "cuMemcpyHtoD";
                case "to-ram" -> "cuMemcpyDtoH";
                default -> "cuMemcpyHtoD and cuMemcpyDtoH";
            };
            row.put("ceiling", backend == Backend.CUDA
                    ? "bulk " + calls + " of the same bytes between pinned host memory and the GPU"
                    : "MemorySegment.copy of the same bytes between two off-heap segments, one thread");
            rows.add(row);
            out.printf("%-8s %6d %-11s %7d %-5s %11.3f %12.3f %7.3f%n", Sizes.format(ps), b, dir, t, copy,
                    r[0] / 1e9, r[1] / 1e9, (double) row.get("ratio"));
        } catch (CudaException e) {
            // one case the GPU cannot hold (memory taken by others): say so, keep the other rows
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("pageSize", ps);
            row.put("batch", b);
            row.put("direction", dir);
            row.put("threads", t);
            row.put("copy", copy);
            row.put("skipped", e.getMessage());
            rows.add(row);
            out.printf("%-8s %6d %-11s %7d %-5s skipped: %s%n", Sizes.format(ps), b, dir, t, copy, e.getMessage());
        }
    }

    private List<Map<String, Object>> faults(PrintWriter out) {
        List<Integer> bs = batches == null ? List.of(32, 256, 1024) : batches;
        positive("--batches", bs, 1 << 16);
        out.printf("%6s %16s %18s %7s%n", "batch", "engineFaults/s", "ceilingRecords/s", "ratio");
        List<Map<String, Object>> rows = new ArrayList<>();
        for (int b : bs) {
            try (FaultRig rig = new FaultRig(b, 8192, plane(), true, source)) {
                double[] r = Measure.paired(Measure.Op.of(rig::reset, rig::deviceTouch),
                        Measure.Op.of(() -> {
                            rig.referenceQueue();
                            return rig.pages();
                        }), seconds, 5, nextWarmup());
                Map<String, Object> row = row(4096, b, "device-fault", 1, r[0] * 4096 / 1e9, r[1] * 4096 / 1e9);
                row.put("engineFaultsPerSecond", Math.round(r[0]));
                row.put("ceilingRecordsPerSecond", Math.round(r[1]));
                row.put("ceiling", "the same records through a JCTools MPSC queue, one thread");
                rows.add(row);
                out.printf("%6d %16.0f %18.0f %7.3f%n", b, r[0], r[1], (double) row.get("ratio"));
            }
        }
        return rows;
    }

    private List<Map<String, Object>> replay(PrintWriter out) {
        List<String> names = policies == null ? new ArrayList<>(PolicyRegistry.evictionPolicies().keySet()) : policies;
        if (reclaimCluster < 1 || reclaimCluster > 1 << 16) {
            throw new BadInputException("--reclaim-cluster", "expected 1..65536 frames, got " + reclaimCluster);
        }
        for (String n : names) {
            try {
                PolicyRegistry.eviction(n);
            } catch (IllegalArgumentException e) {
                throw new BadInputException("--policies", e.getMessage());
            }
        }
        out.printf("%-8s %16s %18s %7s %12s %14s%n", "policy", "engineAccesses/s", "ceilingAccesses/s", "ratio",
                "deviceFaults", "referenceMisses");
        List<Map<String, Object>> rows = new ArrayList<>();
        for (String n : names) {
            try (ReplayRig rig = new ReplayRig(n, 16384, 20480, 1 << 20, 42, true, reclaimCluster, source, plane())) {
                long faults = rig.replay(); // first pass from cold, compared with the textbook LRU's misses
                long misses = rig.referenceLru();
                int len = rig.length();
                double[] r = Measure.paired(Measure.Op.of(() -> {
                    rig.replay();
                    return len;
                }), Measure.Op.of(() -> {
                    rig.referenceLru();
                    return len;
                }), seconds, 5, nextWarmup());
                Map<String, Object> row = row(4096, 1, "replay", 1, r[0] * 4096 / 1e9, r[1] * 4096 / 1e9);
                row.put("policy", n);
                row.put("engineAccessesPerSecond", Math.round(r[0]));
                row.put("ceilingAccessesPerSecond", Math.round(r[1]));
                row.put("deviceFaults", faults);
                row.put("referenceLruMisses", misses);
                row.put("reclaimCluster", reclaimCluster);
                row.put("ceiling", "a textbook LRU cache replaying the same trace");
                rows.add(row);
                out.printf("%-8s %16.0f %18.0f %7.3f %12d %14d%n", n, r[0], r[1], (double) row.get("ratio"), faults,
                        misses);
            }
        }
        if (reclaimCluster > 1) {
            out.printf("direct reclaim frees clusters of %d frames, evicting a few pages ahead of demand, so lru takes a"
                    + " few more device faults than the reference's misses; --reclaim-cluster 1 replays exactly%n",
                    reclaimCluster);
        }
        return rows;
    }

    /** The data plane of the fault and replay suites: none on the simulated device, the pages' bytes on a GPU. */
    private DataPlane plane() {
        return backend == Backend.CUDA ? DataPlane.REAL : DataPlane.METADATA;
    }

    /**
     * Frame metadata measured, not summed: heap in use after a full GC, before and after an engine with
     * {@code --frames} RAM frames and a device of as many (METADATA plane: no page bytes, page tables empty).
     */
    private List<Map<String, Object>> metadata(PrintWriter out) {
        long frames = 32L << 20;
        java.lang.management.MemoryMXBean mem = ManagementFactory.getMemoryMXBean();
        long need = frames * (12 + 20) * 2;
        if (Runtime.getRuntime().maxMemory() < need) {
            throw new BadInputException("metadata", String.format("needs a heap of at least %s (HMM_JAVA_OPTS=-Xmx...), "
                    + "this JVM has %s", Sizes.format(need), Sizes.format(Runtime.getRuntime().maxMemory())));
        }
        long before = usedAfterGc(mem);
        dev.hmm.mm.HmmEngine ram = dev.hmm.mm.HmmEngine.create(dev.hmm.mm.EngineConfig.of(frames * 4096)
                .withDataPlane(DataPlane.METADATA));
        long withRam = usedAfterGc(mem);
        dev.hmm.mm.Device device = ram.attachDevice(new dev.hmm.device.sim.SimulatedDevice(
                dev.hmm.device.sim.SimDeviceConfig.privateDevice(
                "gpu0", frames * 4096)), dev.hmm.mm.FaultServiceConfig.defaults(),
                dev.hmm.mm.EvictionConfig.onDemand(PolicyRegistry.eviction("lru")));
        long withDevice = usedAfterGc(mem);
        double ramPerFrame = (withRam - before) / (double) frames;
        double devPerFrame = (withDevice - withRam) / (double) frames;
        ram.close();
        List<Map<String, Object>> rows = new ArrayList<>();
        for (Object[] r : new Object[][] {{"ram", ramPerFrame, ram.ram().metadataBytesPerFrame()},
                {"device", devPerFrame, device.node().metadataBytesPerFrame()}}) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("node", r[0]);
            m.put("frames", frames);
            m.put("measuredBytesPerFrame", round((double) r[1]));
            m.put("declaredBytesPerFrame", r[2]);
            m.put("targetBytesPerFrame", 24);
            rows.add(m);
            out.printf("%-7s %,d frames: %.2f bytes/frame measured on the heap (declared %s, target <= 24)%n", r[0],
                    frames, (double) r[1], r[2]);
        }
        return rows;
    }

    private static long usedAfterGc(java.lang.management.MemoryMXBean mem) {
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 4; i++) {
            System.gc();
            used = Math.min(used, mem.getHeapMemoryUsage().getUsed());
        }
        return used;
    }

    private static Map<String, Object> row(long pageSize, int batch, String direction, int threads, double engineGBps,
            double ceilingGBps) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("pageSize", pageSize);
        m.put("batch", batch);
        m.put("direction", direction);
        m.put("threads", threads);
        m.put("engineGBps", round(engineGBps));
        m.put("ceilingGBps", round(ceilingGBps));
        m.put("ratio", round(ceilingGBps > 0 ? engineGBps / ceilingGBps : 0));
        return m;
    }

    private static void positive(String option, List<Integer> values, int max) {
        for (int v : values) {
            if (v < 1 || v > max) {
                throw new BadInputException(option, "expected values in 1.." + max + ", got " + v);
            }
        }
    }

    private static double round(double v) {
        return Math.round(v * 1000.0) / 1000.0;
    }

    static Map<String, Object> machine() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("cores", Runtime.getRuntime().availableProcessors());
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            m.put("memoryBytes", os.getTotalMemorySize());
        }
        m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.arch"));
        m.put("jdk", System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"));
        m.put("maxHeapBytes", Runtime.getRuntime().maxMemory());
        return m;
    }
}
