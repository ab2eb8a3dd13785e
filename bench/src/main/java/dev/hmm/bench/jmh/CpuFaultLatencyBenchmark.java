package dev.hmm.bench.jmh;

import dev.hmm.device.sim.SimDeviceConfig;
import dev.hmm.device.sim.SimulatedDevice;
import dev.hmm.mm.AccessType;
import dev.hmm.mm.AddressSpace;
import dev.hmm.mm.DataPlane;
import dev.hmm.mm.Device;
import dev.hmm.mm.EngineConfig;
import dev.hmm.mm.HmmEngine;
import dev.hmm.mm.MigrateResult;
import dev.hmm.mm.MigrationResult;
import dev.hmm.mm.Prot;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * CPU fault to {@code migrateToRam} latency (sample mode: p50, p99, p99.9 in the JMH output): a CPU read of a
 * device-private page faults, the owner's {@code migrateToRam} copies the page back, the entry is installed and the
 * read completes. The page goes back to the device before each invocation (not timed). The reference is the same
 * read of a page already in RAM ({@code referenceResidentRead}), after the same untimed set-up, which finds the
 * faulting page still on the device there. (A state of its own for that set-up does not work: JMH 1.37 then hands
 * the set-up and the benchmark method two different instances of the state they share.)
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class CpuFaultLatencyBenchmark {
    @Param({"REAL", "METADATA"})
    DataPlane data;

    HmmEngine engine;
    Device gpu;
    AddressSpace mm;
    long va;
    long resident;

    @Setup(Level.Trial)
    public void setUp() {
        engine = HmmEngine.create(EngineConfig.of(8L << 20).withDataPlane(data));
        gpu = engine.attachDevice(new SimulatedDevice(SimDeviceConfig.privateDevice("gpu0", 4L << 20)));
        mm = engine.createAddressSpace();
        va = mm.mmap(2 * 4096, Prot.READ_WRITE);
        resident = va + 4096;
        mm.touch(va, 2 * 4096, AccessType.WRITE);
    }

    @Setup(Level.Invocation)
    public void toDevice() {
        MigrationResult r = engine.migrate(mm, va, 4096, gpu);
        if (r.migrated() != 1 && r.count(MigrateResult.ALREADY_ON_TARGET) != 1) {
            throw new IllegalStateException("the page did not go to the device: " + r);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        engine.close();
    }

    @Benchmark
    public long faultAndMigrateToRam() {
        long before = engine.stats().cpuFaults();
        mm.touch(va, 1, AccessType.READ);
        long faults = engine.stats().cpuFaults() - before;
        if (faults != 1) {
            throw new IllegalStateException("the read of a device-private page took " + faults + " CPU faults");
        }
        return faults;
    }

    @Benchmark
    public long referenceResidentRead() {
        mm.touch(resident, 1, AccessType.READ);
        return resident;
    }
}
