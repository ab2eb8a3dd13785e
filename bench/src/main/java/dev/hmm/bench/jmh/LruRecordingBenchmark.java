package dev.hmm.bench.jmh;

import dev.hmm.device.sim.SimDeviceConfig;
import dev.hmm.device.sim.SimulatedDevice;
import dev.hmm.mm.AccessType;
import dev.hmm.mm.AddressSpace;
import dev.hmm.mm.DataPlane;
import dev.hmm.mm.Device;
import dev.hmm.mm.EngineConfig;
import dev.hmm.mm.EvictionConfig;
import dev.hmm.mm.FaultServiceConfig;
import dev.hmm.mm.HmmEngine;
import dev.hmm.mm.Prot;
import dev.hmm.policy.PolicyRegistry;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * LRU surrogate recording cost on the access path: a device access to a resident page with eviction {@code lru}
 * (the access offers its frame into the striped hint buffer, drained under a try-lock) against the same access with
 * eviction {@code none} (no recording: the reference), on one thread and on two threads hitting the same pages
 * (contention on the buffer stripes and the drain lock). The difference of the two is the recording cost.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class LruRecordingBenchmark {
    static final int PAGES = 1024;

    @Param({"lru", "none"})
    String eviction;

    HmmEngine engine;
    Device gpu;
    AddressSpace mm;
    long va;

    @State(Scope.Thread)
    public static class Cursor {
        int next;
    }

    @Setup(Level.Trial)
    public void setUp() {
        engine = HmmEngine.create(EngineConfig.of(PAGES * 4096L).withDataPlane(DataPlane.METADATA));
        EvictionConfig ev = eviction.equals("none") ? EvictionConfig.NONE
                : EvictionConfig.onDemand(PolicyRegistry.eviction(eviction));
        gpu = engine.attachDevice(new SimulatedDevice(SimDeviceConfig.privateDevice("gpu0", PAGES * 4096L)),
                FaultServiceConfig.defaults(), ev);
        mm = engine.createAddressSpace();
        va = mm.mmap(PAGES * 4096L, Prot.READ_WRITE);
        gpu.touch(mm, va, PAGES * 4096L, AccessType.WRITE); // every page resident on the device
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        engine.close();
    }

    @Benchmark
    @Threads(1)
    public int residentAccess(Cursor c) {
        int p = c.next = (c.next + 1) & (PAGES - 1);
        gpu.touch(mm, va + ((long) p << 12), 4096, AccessType.READ);
        return p;
    }

    @Benchmark
    @Threads(2)
    public int residentAccessContended(Cursor c) {
        int p = c.next = (c.next + 1) & (PAGES - 1);
        gpu.touch(mm, va + ((long) p << 12), 4096, AccessType.READ);
        return p;
    }
}
