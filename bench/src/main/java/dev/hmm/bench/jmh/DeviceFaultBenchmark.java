package dev.hmm.bench.jmh;

import dev.hmm.bench.DeviceSource;
import dev.hmm.bench.FaultRig;
import dev.hmm.mm.DataPlane;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Device faults serviced per second through the fault buffer (METADATA plane, one servicing thread), for fault batch
 * sizes 32, 256 and 1024: each invocation is one device access over 8192 pages in RAM, every page a fault; the
 * score is faults per second. The pages go back to RAM between invocations (not timed). The reference is the buffer's
 * ceiling: the same number of records through a JCTools MPSC queue on one thread.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class DeviceFaultBenchmark {
    static final int PAGES = 8192;

    @Param({"32", "256", "1024"})
    int faultBatch;

    /**
     * Who services the faults: {@code combining} (the faulting thread, when nobody else is) or {@code thread} (the
     * device's servicing thread, a hand-off per batch).
     */
    @Param({"combining", "thread"})
    String servicing;

    FaultRig rig;

    /** {@code sim}, or {@code cuda}: GPU 0, REAL data ({@code -jvmArgsAppend -Dhmm.cuda.library=PATH}). */
    @Param({"sim"})
    String backend;

    @Setup(Level.Trial)
    public void setUp() {
        // on a GPU the pages carry their bytes, so that each fault batch is a real copy
        rig = new FaultRig(faultBatch, PAGES, backend.equals("cuda") ? DataPlane.REAL : DataPlane.METADATA,
                servicing.equals("combining"), DeviceSource.named(backend));
    }

    @Setup(Level.Invocation)
    public void backToRam() {
        rig.reset();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        rig.close();
    }

    @Benchmark
    @OperationsPerInvocation(PAGES)
    public long faults() {
        return rig.deviceTouch();
    }

    @Benchmark
    @OperationsPerInvocation(PAGES)
    public long referenceQueue() {
        return rig.referenceQueue();
    }
}
