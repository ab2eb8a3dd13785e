package dev.hmm.sim;

import dev.hmm.device.sim.SimDeviceConfig;
import dev.hmm.device.sim.SimulatedDevice;
import dev.hmm.mm.AddressSpace;
import dev.hmm.mm.DataPlane;
import dev.hmm.mm.Device;
import dev.hmm.mm.HmmEngine;
import dev.hmm.mm.EvictionConfig;
import dev.hmm.mm.Prot;
import dev.hmm.policy.EvictionPolicy;
import dev.hmm.policy.PolicyRegistry;
import dev.hmm.verify.ShadowMemory;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.management.ManagementFactory;
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

    public Simulation(SimulationConfig config) {
        this.config = config;
    }

    /** Runs the simulation; throws {@link BadInputException} for a configuration this machine cannot run. */
    public SimulationReport run() {
        checkMemory();
        engine = HmmEngine.create(config.engineConfig(), new SimpleMeterRegistry());
        try {
            EvictionConfig eviction = evictionConfig();
            for (int d = 0; d < config.devices(); d++) {
                devices.add(engine.attachDevice(new SimulatedDevice(new SimDeviceConfig("gpu" + d,
                        config.deviceMemory(), config.deviceType(), config.copyThreads())), config.faults(),
                        eviction));
            }
            mm = engine.createAddressSpace();
            base = mm.mmap(config.footprintBytes(), Prot.READ_WRITE);
            if (config.data() == DataPlane.REAL) {
                shadow = new ShadowMemory(base, config.footprintBytes(), config.pageSize());
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
            long t0 = System.nanoTime();
            switch (config.workload()) {
                case PINGPONG -> pingpong();
                case STREAM -> stream();
                case RANDOM -> random();
            }
            double wall = (System.nanoTime() - t0) / 1e9;
            long finalMismatch = shadow == null ? 0 : finalCheck();
            List<String> violations = engine.check();
            return SimulationReport.of(config, engine, devices, accessors, wall, finalMismatch, violations);
        } finally {
            for (Accessor a : accessors) {
                a.close();
            }
            if (shadow != null) {
                shadow.close();
            }
            engine.close();
        }
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
        return new EvictionConfig(policy, config.evictWatermark() / config.pageSize(), 64);
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
        long need = config.ramBytes() + config.deviceMemory() * config.devices() + config.footprintBytes();
        long have = physicalMemory();
        if (have > 0 && need > have * 8 / 10) {
            throw new BadInputException("--data", String.format(
                    "the REAL data plane needs %s here (RAM %s + device %s + shadow %s), more than 80%% of this "
                            + "machine's %s; use --data metadata or smaller sizes",
                    dev.hmm.cli.Sizes.format(need), dev.hmm.cli.Sizes.format(config.ramBytes()),
                    dev.hmm.cli.Sizes.format(config.deviceMemory() * config.devices()),
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
