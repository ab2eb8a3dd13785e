package dev.hmm.cli;

import dev.hmm.mm.DataPlane;
import dev.hmm.mm.FaultServiceConfig;
import dev.hmm.mm.ReplayPolicy;
import dev.hmm.mm.MemoryType;
import dev.hmm.report.JsonReports;
import dev.hmm.sim.BadInputException;
import dev.hmm.sim.Simulation;
import dev.hmm.sim.SimulationConfig;
import dev.hmm.sim.SimulationReport;
import dev.hmm.sim.Workload;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code hmm simulate}: runs a built-in workload on the simulated device and prints a report.
 *
 * {@snippet lang = "shell" :
 * ./hmm simulate --workload random --footprint 64MiB --device-memory 32MiB --cpu-threads 2 --device-threads 2
 * ./hmm simulate --data metadata --footprint 64GiB --device-memory 16GiB --json run.json
 * }
 */
@Command(name = "simulate", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Run a workload on the built-in simulated device and print a report.")
public final class SimulateCommand implements Callable<Integer> {

    /** Device memory kinds selectable on the command line. */
    public enum DeviceKind {
        PRIVATE(MemoryType.DEVICE_PRIVATE), COHERENT(MemoryType.DEVICE_COHERENT);

        final MemoryType type;

        DeviceKind(MemoryType type) {
            this.type = type;
        }
    }

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--workload", paramLabel = "NAME", description = "pingpong, stream or random (default: ${DEFAULT-VALUE})")
    Workload workload = Workload.PINGPONG;

    @Option(names = "--footprint", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "bytes the workload touches (default: 256MiB, or the size of --file)")
    long footprint = 256L << 20;

    @Option(names = "--device-memory", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "memory of the simulated device (default: 512MiB)")
    long deviceMemory = 512L << 20;

    @Option(names = "--backend", paramLabel = "NAME",
            description = "sim (simulated devices) or cuda (GPU 0 through the CUDA driver: each device a cuMemAlloc of "
                    + "--device-memory, copies by GPU kernels; private devices, one copy thread) "
                    + "(default: ${DEFAULT-VALUE})")
    SimulationConfig.DeviceBackend backend = SimulationConfig.DeviceBackend.SIM;

    @Option(names = "--cuda-library", paramLabel = "PATH",
            description = "cuda: the CUDA driver library (default: libcuda.so.1 from the loader path)")
    String cudaLibrary;

    @Option(names = "--device-type", paramLabel = "KIND", description = "private or coherent (default: ${DEFAULT-VALUE})")
    DeviceKind deviceType = DeviceKind.PRIVATE;

    @Option(names = "--page-size", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "4KiB, 64KiB or 2MiB (default: 4KiB)")
    long pageSize = 4096;

    @Option(names = "--ram", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "system RAM (default: the footprint)")
    long ram = 0;

    @Option(names = "--cpu-threads", paramLabel = "N", description = "CPU accessor threads (default: ${DEFAULT-VALUE})")
    int cpuThreads = 2;

    @Option(names = "--device-threads", paramLabel = "N", description = "device accessor threads (default: ${DEFAULT-VALUE})")
    int deviceThreads = 2;

    @Option(names = "--copy-threads", paramLabel = "N", description = "copy-engine threads per device (default: ${DEFAULT-VALUE})")
    int copyThreads = 1;

    @Option(names = "--async-copy", description = "each device's copy engine copies on --copy-threads threads of its own "
            + "while the migrating thread does the next chunk's page-table work, as a GPU's copy engines do (default: "
            + "the migrating thread copies)")
    boolean asyncCopy;

    @Option(names = "--migrate-batch", paramLabel = "PAGES",
            description = "pages per migrate_vma call and copy batch (default: ${DEFAULT-VALUE})")
    int migrateBatch = 512;

    @Option(names = "--accesses", paramLabel = "N", converter = CountConverter.class,
            description = "page accesses in total (default: 8 per footprint page)")
    long accesses = 0;

    @Option(names = "--seed", paramLabel = "N", description = "seed of every random choice (default: ${DEFAULT-VALUE})")
    long seed = 42;

    @Option(names = "--data", paramLabel = "PLANE", description = "real (bytes copied and checked) or metadata (default: ${DEFAULT-VALUE})")
    DataPlane data = DataPlane.REAL;

    @Option(names = "--devices", paramLabel = "N", description = "simulated devices, each its own owner (default: ${DEFAULT-VALUE})")
    int devices = 1;

    @Option(names = "--fault-batch", paramLabel = "N",
            description = "faults serviced per batch (UVM uvm_perf_fault_batch_count; default: ${DEFAULT-VALUE})")
    int faultBatch = 256;

    @Option(names = "--fault-buffer", paramLabel = "N",
            description = "fault buffer entries; producers wait when it is full (default: ${DEFAULT-VALUE})")
    int faultBuffer = 4096;

    @Option(names = "--replay-policy", paramLabel = "POLICY", converter = ReplayPolicyConverter.class,
            description = "block, batch, batch-flush or once (UVM uvm_perf_fault_replay_policy; default: batch-flush)")
    ReplayPolicy replayPolicy = ReplayPolicy.BATCH_FLUSH;

    @Option(names = "--fault-servicing", paramLabel = "MODE", converter = FaultServicingConverter.class,
            description = "who services device faults: combining (a faulting device thread services the buffer when"
                    + " nobody else is) or thread (always the device's servicing thread; default: combining)")
    FaultServicing faultServicing = FaultServicing.COMBINING;

    @Option(names = "--atomics", paramLabel = "MODE",
            description = "device atomics on RAM pages: migrate (UVM default) or exclusive (make_device_exclusive; default: ${DEFAULT-VALUE})")
    AtomicsMode atomics = AtomicsMode.MIGRATE;

    @Option(names = "--access-size", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "bytes per access, a multiple of the page size (default: 64KiB, or one page if larger)")
    long accessSize = 0;

    @Option(names = "--eviction", paramLabel = "NAME",
            description = "eviction policy under oversubscription: lru, fifo or none (default: ${DEFAULT-VALUE}; ./hmm policies lists them)")
    String eviction = "lru";

    @Option(names = "--evict-watermark", paramLabel = "SIZE|PCT",
            description = "device memory kept free by background reclaim, as a size or a percentage of device memory; 0 evicts on demand only (default: 0)")
    String evictWatermark = "0";

    @Option(names = "--reclaim-cluster", paramLabel = "N",
            description = "the fewest device frames one direct reclaim frees, at most 1/64 of the device (Linux"
                    + " SWAP_CLUSTER_MAX); 1 evicts exactly what each fault needs (default: ${DEFAULT-VALUE})")
    int reclaimCluster = dev.hmm.mm.EvictionConfig.SWAP_CLUSTER_MAX;

    @Option(names = "--read-duplication", description = "device read faults on RAM pages make read-only copies (UVM read duplication)")
    boolean readDuplication;

    @Option(names = "--file", paramLabel = "PATH",
            description = "map this file instead of anonymous memory: it must exist and hold at least the footprint")
    Path file;

    @Option(names = "--mapping", paramLabel = "KIND",
            description = "with --file: shared (writes reach the file; checked after msync) or private (copy on write; the file must not change); default: ${DEFAULT-VALUE}")
    SimulationConfig.FileMapping mapping;

    @Option(names = "--json", paramLabel = "FILE", description = "also write the report as JSON to FILE")
    Path json;

    /** How device atomics on RAM pages are served. */
    public enum AtomicsMode {
        MIGRATE, EXCLUSIVE
    }

    enum FaultServicing {
        COMBINING, THREAD
    }

    static final class FaultServicingConverter implements CommandLine.ITypeConverter<FaultServicing> {
        @Override
        public FaultServicing convert(String value) {
            try {
                return FaultServicing.valueOf(value.trim().toUpperCase(java.util.Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException("'" + value
                        + "' is not a fault-servicing mode (expected combining or thread)");
            }
        }
    }

    /** Accepts the policy names with dashes or underscores, any case. */
    static final class ReplayPolicyConverter implements CommandLine.ITypeConverter<ReplayPolicy> {
        @Override
        public ReplayPolicy convert(String value) {
            try {
                return ReplayPolicy.valueOf(value.trim().toUpperCase(java.util.Locale.ROOT).replace('-', '_'));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException("'" + value
                        + "' is not a replay policy (expected block, batch, batch-flush or once)");
            }
        }
    }

    SimulationConfig config() {
        if (pageSize > Integer.MAX_VALUE) {
            throw new BadInputException("--page-size", "unsupported page size " + Sizes.format(pageSize)
                    + " (expected 4KiB, 64KiB or 2MiB)");
        }
        FaultServiceConfig faults;
        try {
            faults = new FaultServiceConfig(faultBatch, replayPolicy, Math.max(faultBuffer, 2), 20,
                    atomics == AtomicsMode.EXCLUSIVE, readDuplication, faultServicing == FaultServicing.COMBINING);
        } catch (IllegalArgumentException e) {
            throw new BadInputException(faultBatch < 1 || faultBatch > 1 << 16 ? "--fault-batch" : "--fault-buffer",
                    e.getMessage());
        }
        if (faultBuffer < 2) {
            throw new BadInputException("--fault-buffer", "must hold at least 2 entries, got " + faultBuffer);
        }
        if (mapping != null && file == null) {
            throw new BadInputException("--mapping", "needs --file PATH (anonymous memory has no mapping kind)");
        }
        long footprint = this.footprint;
        if (file != null && !spec.commandLine().getParseResult().hasMatchedOption("--footprint")) {
            footprint = fileSize(file) / pageSize * pageSize; // whole pages: a partial last page is not all file
            if (footprint == 0) {
                throw new BadInputException("--file", file + " is shorter than one " + Sizes.format(pageSize)
                        + " page");
            }
        }
        return new SimulationConfig(workload, footprint, deviceMemory, deviceType.type, (int) pageSize, ram,
                cpuThreads, deviceThreads, copyThreads, migrateBatch, accesses, seed, data, devices, faults,
                accessSize == 0 ? Math.max(64 * 1024, pageSize) : accessSize, eviction, watermarkBytes(), reclaimCluster,
                file,
                mapping == null ? SimulationConfig.FileMapping.SHARED : mapping, backend, cudaLibrary, asyncCopy);
    }

    /** The size of {@code --file}, which is the default footprint then; the simulation checks the rest. */
    private static long fileSize(Path file) {
        try {
            long size = java.nio.file.Files.size(file);
            if (size == 0) {
                throw new BadInputException("--file", file + " is empty (expected a file with data to map)");
            }
            return size;
        } catch (java.nio.file.NoSuchFileException e) {
            throw new BadInputException("--file", file + " does not exist (expected an existing file to map)");
        } catch (IOException e) {
            throw new BadInputException("--file", "cannot read the size of " + file + " (" + e.getMessage() + ")");
        }
    }

    /** {@code --evict-watermark}: a size, or a percentage of device memory rounded down to whole pages. */
    long watermarkBytes() {
        String v = evictWatermark.trim();
        if (v.endsWith("%")) {
            double pct;
            try {
                pct = Double.parseDouble(v.substring(0, v.length() - 1));
            } catch (NumberFormatException e) {
                pct = -1;
            }
            if (pct < 0 || pct >= 100) {
                throw new BadInputException("--evict-watermark", "'" + evictWatermark
                        + "' is not a percentage in [0, 100)");
            }
            long bytes = (long) (deviceMemory * pct / 100);
            return bytes - bytes % pageSize;
        }
        try {
            return Sizes.parse(v);
        } catch (IllegalArgumentException e) {
            throw new BadInputException("--evict-watermark", e.getMessage() + " or a percentage such as 5%");
        }
    }

    /** Refuses an unwritable --json target before the run, so no result is computed only to be lost. */
    static void checkWritable(String option, Path file) {
        Path abs = file.toAbsolutePath();
        if (java.nio.file.Files.isDirectory(abs)) {
            throw new BadInputException(option, abs + " is a directory (expected a file name)");
        }
        Path dir = abs.getParent();
        try {
            java.nio.file.Files.createDirectories(dir);
        } catch (IOException | RuntimeException e) {
            throw new BadInputException(option, "cannot create directory " + dir + " (" + e.getClass().getSimpleName()
                    + ")");
        }
        if (!java.nio.file.Files.isWritable(dir)) {
            throw new BadInputException(option, "directory " + dir + " is not writable");
        }
    }

    @Override
    public Integer call() {
        SimulationConfig c = config();
        if (json != null) {
            checkWritable("--json", json);
        }
        PrintWriter out = spec.commandLine().getOut();
        SimulationReport report = new Simulation(c).run();
        Summary.print(out, report.fields());
        if (json != null) {
            try {
                JsonReports.write(json, report.fields());
            } catch (IOException e) {
                throw new BadInputException("--json", "cannot write " + json + " (" + e + "); the report above is "
                        + "the run's result");
            }
            out.println("report written to " + json);
        }
        if (!report.ok()) {
            spec.commandLine().getErr().println("hmm simulate: FAILED: " + report.dataErrors() + " data errors, "
                    + report.invariantViolations().size() + " invariant violations");
            return Main.EXIT_FAILED;
        }
        return Main.EXIT_OK;
    }

    /** Prints a report as aligned {@code name  value} lines, nested maps indented. */
    static final class Summary {
        private Summary() {
        }

        static void print(PrintWriter out, Map<String, Object> fields) {
            print(out, fields, "");
        }

        @SuppressWarnings("unchecked")
        private static void print(PrintWriter out, Map<String, Object> fields, String indent) {
            int width = fields.keySet().stream().mapToInt(String::length).max().orElse(0);
            for (Map.Entry<String, Object> e : fields.entrySet()) {
                Object v = e.getValue();
                if (v instanceof Map<?, ?> m) {
                    out.println(indent + e.getKey() + (m.isEmpty() ? pad(e.getKey(), width) + "  -" : ""));
                    print(out, (Map<String, Object>) m, indent + "  ");
                } else if (v instanceof java.util.List<?> l) {
                    out.println(indent + e.getKey() + pad(e.getKey(), width) + "  " + (l.isEmpty() ? "none" : l));
                } else {
                    out.println(indent + e.getKey() + pad(e.getKey(), width) + "  " + v);
                }
            }
        }

        private static String pad(String k, int width) {
            return " ".repeat(Math.max(0, width - k.length()));
        }
    }
}
