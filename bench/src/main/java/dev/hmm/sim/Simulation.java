package dev.hmm.sim;

import dev.hmm.device.cuda.CudaDevice;
import dev.hmm.device.cuda.CudaDeviceConfig;
import dev.hmm.device.cuda.CudaException;
import dev.hmm.device.sim.SimDeviceConfig;
import dev.hmm.device.sim.SimulatedDevice;
import dev.hmm.mm.AddressSpace;
import dev.hmm.mm.DataPlane;
import dev.hmm.mm.Device;
import dev.hmm.mm.DeviceDriver;
import dev.hmm.mm.HmmEngine;
import dev.hmm.mm.EvictionConfig;
import dev.hmm.mm.Prot;
import dev.hmm.policy.EvictionPolicy;
import dev.hmm.policy.PolicyRegistry;
import dev.hmm.verify.ShadowMemory;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import dev.hmm.cli.Sizes;
import dev.hmm.mm.BusErrorException;
import dev.hmm.mm.MappedFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntConsumer;

/**
 * Runs one {@link SimulationConfig} on the simulated device: builds the engine, maps the footprint, runs the
 * workload's accessor threads, checks the engine's invariants, and returns the report.
 */
public final class Simulation {
    private final SimulationConfig config;
    private HmmEngine engine;
    private AddressSpace mm;
    private long base;
    private final List<Device> devices = new ArrayList<>();
    private final List<Accessor> accessors = new ArrayList<>();
    private ShadowMemory shadow;
    private MappedFile file; // --file: the mapped file, else null
    private int[] originalPageCrcs; // --mapping private: the file's pages before the run
    private Runnable beforeWorkload = () -> { };

    public Simulation(SimulationConfig config) {
        this.config = config;
    }

    /** A device of the configured backend; a GPU that cannot be had is bad input for {@code --backend}. */
    private DeviceDriver openDevice(String name) {
        if (config.backend() == SimulationConfig.DeviceBackend.SIM) {
            return new SimulatedDevice(new SimDeviceConfig(name, config.deviceMemory(), config.deviceType(),
                    config.copyThreads(), config.asyncCopy()));
        }
        try {
            return new CudaDevice(CudaDeviceConfig.of(name, config.deviceMemory()).withLibrary(config.cudaLibrary()));
        } catch (CudaException e) {
            throw new BadInputException("--backend", "cuda: " + e.getMessage() + "; expected a machine with an NVIDIA"
                    + " GPU and driver (or --backend sim)");
        }
    }

    /** Test hook: runs after the footprint is mapped and before the workload starts (to change the file then). */
    Simulation beforeWorkload(Runnable hook) {
        this.beforeWorkload = hook;
        return this;
    }

    /**
     * Runs the simulation; throws {@link BadInputException} for a configuration this machine cannot run, and for a
     * {@code --file} that is missing, too short, or deleted or truncated during the run (dirty pages are written back
     * first, and the message says what happened to them).
     */
    public SimulationReport run() {
        checkMemory();
        checkFile();
        engine = HmmEngine.create(config.engineConfig(), new SimpleMeterRegistry());
        RuntimeException failure = null;
        try {
            EvictionConfig eviction = evictionConfig();
            for (int d = 0; d < config.devices(); d++) {
                devices.add(dev.hmm.bench.DeviceSource.attach(engine, openDevice("gpu" + d), config.faults(),
                        eviction));
            }
            mm = engine.createAddressSpace();
            if (config.file() != null) {
                mapFile();
            } else {
                base = mm.mmap(config.footprintBytes(), Prot.READ_WRITE);
                if (config.data() == DataPlane.REAL) {
                    shadow = new ShadowMemory(base, config.footprintBytes(), config.pageSize());
                }
            }
            long seed = config.seed();
            for (int t = 0; t < config.cpuThreads(); t++) {
                accessors.add(new Accessor(mm, null, shadow, config.pageSize(), config.accessSize(), seed * 7919 + t));
            }
            for (int t = 0; t < config.deviceThreads(); t++) {
                Device d = devices.get(t % devices.size());
                accessors.add(new Accessor(mm, d, shadow, config.pageSize(), config.accessSize(),
                        seed * 7919 + 1000 + t));
            }
            beforeWorkload.run();
            long t0 = System.nanoTime();
            try {
                switch (config.workload()) {
                    case PINGPONG -> pingpong();
                    case STREAM -> stream();
                    case RANDOM -> random();
                }
            } catch (RuntimeException e) {
                throw file == null ? e : fileFailure(e);
            }
            double wall = (System.nanoTime() - t0) / 1e9;
            long finalMismatch = shadow == null ? 0 : finalCheck();
            List<String> violations = engine.check();
            FileOutcome fileOutcome = file == null ? null : finishFile();
            return SimulationReport.of(config, engine, devices, accessors, wall, finalMismatch, violations,
                    fileOutcome);
        } catch (RuntimeException e) {
            failure = e;
            throw e;
        } finally {
            for (Accessor a : accessors) {
                a.close();
            }
            if (shadow != null) {
                shadow.close();
            }
            closeEngine(failure);
        }
    }

    /**
     * Closes the engine (which writes back what is still dirty). A close error joins a failure already in flight;
     * otherwise, with a file, it is the file's error (its dirty pages could not be written), else an internal one.
     */
    private void closeEngine(RuntimeException failure) {
        try {
            engine.close();
        } catch (RuntimeException e) {
            if (failure != null) {
                failure.addSuppressed(e);
            } else if (file != null) {
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                throw new BadInputException("--file", "closing " + config.file() + " failed: " + cause.getMessage());
            } else {
                throw e;
            }
        }
    }

    // ------------------------------------------------------------------ --file

    /** What the file check found after the run (see docs/report-format.md). */
    record FileOutcome(long msyncPages, long fileMismatchBytes) {
    }

    /** Refuses a --file that is missing, unreadable, not a regular file, or shorter than the footprint. */
    private void checkFile() {
        Path p = config.file();
        if (p == null) {
            return;
        }
        if (!Files.exists(p)) {
            throw new BadInputException("--file", p + " does not exist (expected an existing file to map)");
        }
        if (!Files.isRegularFile(p)) {
            throw new BadInputException("--file", p + " is not a regular file");
        }
        if (!Files.isReadable(p)) {
            throw new BadInputException("--file", p + " is not readable");
        }
        if (config.mapping() == SimulationConfig.FileMapping.SHARED && !Files.isWritable(p)) {
            throw new BadInputException("--file", p + " is not writable (a shared mapping writes back to it; use "
                    + "--mapping private)");
        }
        long size;
        try {
            size = Files.size(p);
        } catch (IOException e) {
            throw new BadInputException("--file", "cannot read the size of " + p + " (" + e.getMessage() + ")");
        }
        if (size < config.footprintBytes()) {
            throw new BadInputException("--file", String.format("%s holds %d bytes, less than the footprint of %d "
                    + "whole %s pages (%d bytes; expected a file at least as large, or a smaller --footprint: bytes "
                    + "past the end of a file are not file data)", p, size, config.footprintPages(),
                    Sizes.format(config.pageSize()), config.footprintBytes()));
        }
    }

    /**
     * Opens and maps the file, and in the REAL plane starts the shadow from its bytes (a file mapping is not zeroed
     * memory); a private mapping also remembers a checksum per page, to prove afterwards that the file never changed.
     */
    private void mapFile() {
        boolean shared = config.mapping() == SimulationConfig.FileMapping.SHARED;
        try {
            file = engine.openFile(config.file(), shared);
        } catch (IOException e) {
            throw new BadInputException("--file", "cannot open " + config.file() + " (" + e.getMessage() + ")");
        }
        long len = config.footprintBytes();
        try {
            base = mm.mmapFile(file, 0, len, Prot.READ_WRITE, shared);
        } catch (IllegalArgumentException e) {
            throw new BadInputException("--file", e.getMessage());
        }
        if (config.data() != DataPlane.REAL) {
            return;
        }
        shadow = new ShadowMemory(base, len, config.pageSize());
        int pageSize = config.pageSize();
        originalPageCrcs = shared ? null : new int[(int) config.footprintPages()];
        forEachFileChunk((off, chunk) -> {
            shadow.recordWrite(base + off, chunk);
            if (originalPageCrcs != null) {
                for (long p = 0; p < chunk.byteSize(); p += pageSize) {
                    originalPageCrcs[(int) ((off + p) / pageSize)] = crc(chunk.asSlice(p,
                            Math.min(pageSize, chunk.byteSize() - p)));
                }
            }
        });
    }

    /** Reads the mapped part of the file in chunks of whole pages: {@code (offset, bytes)}; short at end of file. */
    private void forEachFileChunk(java.util.function.BiConsumer<Long, MemorySegment> body) {
        long len = Math.min(config.footprintBytes(), fileSizeNow());
        int chunkBytes = Math.max(config.pageSize(), 1 << 20);
        try (FileChannel ch = FileChannel.open(config.file(), StandardOpenOption.READ);
                Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(chunkBytes, 64);
            for (long off = 0; off < len; off += chunkBytes) {
                int n = (int) Math.min(chunkBytes, len - off);
                ByteBuffer bb = buf.asSlice(0, n).asByteBuffer();
                while (bb.hasRemaining() && ch.read(bb, off + bb.position()) >= 0) {
                    // read until the chunk is full or the file ends
                }
                body.accept(off, buf.asSlice(0, bb.position()));
                if (bb.position() < n) {
                    break;
                }
            }
        } catch (IOException e) {
            throw new BadInputException("--file", "cannot read " + config.file() + " (" + e.getMessage() + ")");
        }
    }

    private long fileSizeNow() {
        try {
            return Files.size(config.file());
        } catch (IOException e) {
            throw new BadInputException("--file", config.file() + " disappeared during the run (" + e.getMessage()
                    + ")");
        }
    }

    private static int crc(MemorySegment bytes) {
        java.util.zip.CRC32C c = new java.util.zip.CRC32C();
        c.update(bytes.asByteBuffer());
        return (int) c.getValue();
    }

    /**
     * After a clean run: a shared mapping is synced ({@code msync}) and the file must then equal the shadow byte for
     * byte; a private mapping must have left every page of the file as it was.
     */
    private FileOutcome finishFile() {
        long written = 0;
        if (config.mapping() == SimulationConfig.FileMapping.SHARED) {
            try {
                written = mm.msync(base, config.footprintBytes());
            } catch (IOException e) {
                throw new BadInputException("--file", "msync after the run failed: " + e.getMessage());
            }
        }
        if (shadow == null) {
            return new FileOutcome(written, 0);
        }
        long fileSize = fileSizeNow();
        long expect = Math.min(config.footprintBytes(), file.size());
        if (fileSize < expect) {
            throw new BadInputException("--file", config.file() + " shrank to " + fileSize + " bytes during the run ("
                    + expect + " expected)");
        }
        long[] mismatch = {0};
        int pageSize = config.pageSize();
        forEachFileChunk((off, chunk) -> {
            if (originalPageCrcs == null) {
                mismatch[0] += shadow.compare(base + off, chunk);
            } else {
                for (long p = 0; p < chunk.byteSize(); p += pageSize) {
                    MemorySegment page = chunk.asSlice(p, Math.min(pageSize, chunk.byteSize() - p));
                    if (crc(page) != originalPageCrcs[(int) ((off + p) / pageSize)]) {
                        mismatch[0] += page.byteSize();
                    }
                }
            }
        });
        return new FileOutcome(written, mismatch[0]);
    }

    /**
     * The file changed under the run (truncated or deleted): writes back what can be written, then turns the failure
     * into one line that says what happened to the dirty pages. Other failures pass through.
     */
    private RuntimeException fileFailure(RuntimeException e) {
        BusErrorException bus = null;
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof BusErrorException b) {
                bus = b;
                break;
            }
        }
        if (bus == null) {
            return e;
        }
        String dirty;
        if (config.mapping() == SimulationConfig.FileMapping.SHARED) {
            try {
                dirty = mm.msync(base, config.footprintBytes()) + " dirty pages were written back";
            } catch (IOException io) {
                dirty = "writeback: " + io.getMessage() + " (" + file.dirtyPages() + " pages still dirty)";
            }
        } else {
            dirty = "the private mapping's copies were discarded, as MAP_PRIVATE does";
        }
        return new BadInputException("--file", config.file() + " changed during the run: " + bus.getMessage()
                + "; " + dirty);
    }

    private EvictionConfig evictionConfig() {
        if (config.eviction().equalsIgnoreCase("none")) {
            return EvictionConfig.NONE;
        }
        EvictionPolicy.Factory policy;
        try {
            policy = PolicyRegistry.eviction(config.eviction());
        } catch (IllegalArgumentException e) {
            throw new BadInputException("--eviction", e.getMessage());
        }
        return new EvictionConfig(policy, config.evictWatermark() / config.pageSize(), 64, config.reclaimCluster());
    }

    /**
     * After the run, every byte of the footprint, wherever its page lives, must equal the shadow's last write: read
     * straight from the frames (no fault, no migration), a page at a time. Returns the bytes that differ.
     */
    private long finalCheck() {
        byte[] buf = new byte[config.pageSize()];
        java.lang.foreign.MemorySegment seg = java.lang.foreign.MemorySegment.ofArray(buf);
        long bad = 0;
        for (long p = 0; p < pages(); p++) {
            mm.peek(address(p), buf);
            bad += shadow.compare(address(p), seg);
        }
        return bad;
    }

    /** REAL plane: RAM, device memory and the shadow are all allocated; refuse what this machine cannot hold. */
    private void checkMemory() {
        if (config.data() != DataPlane.REAL) {
            return;
        }
        // a GPU's memory is its own; a simulated device's is this machine's
        long device = config.backend() == SimulationConfig.DeviceBackend.CUDA ? 0
                : config.deviceMemory() * config.devices();
        long need = config.ramBytes() + device + config.footprintBytes();
        long have = physicalMemory();
        if (have > 0 && need > have * 8 / 10) {
            throw new BadInputException("--data", String.format(
                    "the REAL data plane needs %s here (RAM %s + device %s + shadow %s), more than 80%% of this "
                            + "machine's %s; use --data metadata or smaller sizes",
                    dev.hmm.cli.Sizes.format(need), dev.hmm.cli.Sizes.format(config.ramBytes()),
                    dev.hmm.cli.Sizes.format(device),
                    dev.hmm.cli.Sizes.format(config.footprintBytes()),
                    dev.hmm.cli.Sizes.format(have)));
        }
    }

    private static long physicalMemory() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getTotalMemorySize();
        }
        return -1;
    }

    private long pages() {
        return config.footprintPages();
    }

    private long address(long page) {
        return base + page * config.pageSize();
    }

    /** Start of access chunk {@code c}. */
    private long chunk(long c) {
        return base + c * config.accessSize();
    }

    /** Length of access chunk {@code c} (the last may be short). */
    private long chunkLength(long c) {
        return Math.min(config.accessSize(), config.footprintBytes() - c * config.accessSize());
    }

    /** Runs {@code body(i)} for each accessor index in {@code which} on its own thread; rethrows the first failure. */
    private void parallel(List<Integer> which, IntConsumer body) {
        List<Thread> threads = new ArrayList<>();
        List<Throwable> errors = new java.util.concurrent.CopyOnWriteArrayList<>();
        for (int i : which) {
            threads.add(Thread.ofPlatform().name("hmm-sim-" + i).start(() -> {
                try {
                    body.accept(i);
                } catch (Throwable e) {
                    errors.add(e);
                }
            }));
        }
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
        }
        if (!errors.isEmpty()) {
            RuntimeException e = new IllegalStateException("workload thread failed: " + errors.get(0), errors.get(0));
            errors.stream().skip(1).forEach(e::addSuppressed);
            throw e;
        }
    }

    private List<Integer> cpus() {
        List<Integer> l = new ArrayList<>();
        for (int i = 0; i < accessors.size(); i++) {
            if (accessors.get(i).isCpu()) {
                l.add(i);
            }
        }
        return l;
    }

    private List<Integer> deviceAccessors() {
        List<Integer> l = new ArrayList<>();
        for (int i = 0; i < accessors.size(); i++) {
            if (!accessors.get(i).isCpu()) {
                l.add(i);
            }
        }
        return l;
    }

    /**
     * Each accessor of {@code group} takes every n-th access chunk from its rank (shifted by {@code rotate}, so that
     * with several devices a page goes to another device next round); busy claims are retried. The budget counts
     * pages.
     */
    private void sweep(List<Integer> group, boolean readFirst, boolean write, long budget, AtomicLong spent,
            int rotate) {
        int n = group.size();
        long per = config.accessPages();
        parallel(group, i -> {
            Accessor a = accessors.get(i);
            int rank = (group.indexOf(i) + rotate) % n;
            for (long c = rank; c < config.chunks(); c += n) {
                long va = chunk(c);
                long len = chunkLength(c);
                if (readFirst) {
                    if (spent.getAndAdd(per) >= budget) {
                        return;
                    }
                    while (!a.access(va, len, false)) {
                        Thread.onSpinWait();
                    }
                }
                if (write) {
                    if (spent.getAndAdd(per) >= budget) {
                        return;
                    }
                    while (!a.access(va, len, true)) {
                        Thread.onSpinWait();
                    }
                }
            }
        });
    }

    private void pingpong() {
        List<Integer> cpu = cpus();
        List<Integer> dev = deviceAccessors();
        long budget = config.accessBudget();
        AtomicLong spent = new AtomicLong();
        for (int round = 0; spent.get() < budget; round++) {
            long before = spent.get();
            if (!cpu.isEmpty()) {
                sweep(cpu, false, true, budget, spent, 0); // CPU writes every page (device pages fault back)
                sweep(cpu, true, false, budget, spent, 0); // and checks it
            }
            if (!dev.isEmpty()) {
                // devices check and rewrite every page (RAM pages migrate); with several devices, pages change device
                sweep(dev, true, true, budget, spent, round);
            }
            if (spent.get() == before) {
                break;
            }
        }
    }

    private void stream() {
        List<Integer> cpu = cpus();
        List<Integer> dev = deviceAccessors();
        AtomicLong ignored = new AtomicLong();
        if (!cpu.isEmpty()) {
            sweep(cpu, false, true, Long.MAX_VALUE, ignored, 0); // initialise
        }
        List<Integer> streamers = dev.isEmpty() ? cpu : dev;
        long budget = config.accessBudget();
        AtomicLong spent = new AtomicLong();
        int n = streamers.size();
        long per = config.accessPages();
        for (int pass = 0; spent.get() < budget; pass++) {
            boolean write = (pass & 1) == 1;
            parallel(streamers, i -> {
                Accessor a = accessors.get(i);
                int rank = streamers.indexOf(i);
                long share = (config.chunks() + n - 1) / n;
                long from = rank * share;
                long to = Math.min(config.chunks(), from + share);
                for (long c = from; c < to; c++) {
                    if (spent.getAndAdd(per) >= budget) {
                        return;
                    }
                    while (!a.access(chunk(c), chunkLength(c), write)) {
                        Thread.onSpinWait();
                    }
                }
            });
        }
        if (!cpu.isEmpty()) {
            sweep(cpu, true, false, Long.MAX_VALUE, ignored, 0); // check everything
        }
    }

    private void random() {
        long budget = config.accessBudget();
        int n = accessors.size();
        List<Integer> all = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            all.add(i);
        }
        parallel(all, i -> {
            Accessor a = accessors.get(i);
            // an equal share of the page budget each: fast threads cannot starve slow ones
            long quota = budget / n + (i < budget % n ? 1 : 0);
            for (long k = 0; k < quota; k += config.accessPages()) {
                long c = a.random.nextLong(config.chunks());
                boolean write = a.random.nextBoolean();
                boolean atomic = write && a.random.nextInt(4) == 0; // a quarter of device writes are atomics
                a.access(chunk(c), chunkLength(c), write, atomic); // a busy claim is skipped: contention is the point
            }
        });
    }
}
