package dev.hmm.bench.jmh;

import dev.hmm.bench.DeviceSource;
import dev.hmm.bench.ReplayRig;
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
 * Trace replay accesses per second on one thread for each eviction policy (METADATA, 125% oversubscribed, a hot/cold
 * trace of 1M accesses; see {@link ReplayRig}). The reference replays the same trace through a textbook LRU cache.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class ReplayBenchmark {
    static final int LENGTH = 1 << 20;

    @Param({"lru", "fifo"})
    String policy;

    /**
     * Who services the faults: {@code combining} (the faulting thread, when nobody else is) or {@code thread} (the
     * device's servicing thread, a hand-off per batch).
     */
    @Param({"combining", "thread"})
    String servicing;

    /** The fewest frames one direct reclaim frees ({@code EvictionConfig.reclaimCluster}); 1 replays exactly. */
    @Param({"32"})
    int reclaimCluster;

    ReplayRig rig;

    /** {@code sim}, or {@code cuda}: GPU 0, REAL data ({@code -jvmArgsAppend -Dhmm.cuda.library=PATH}). */
    @Param({"sim"})
    String backend;

    @Setup(Level.Trial)
    public void setUp() {
        rig = new ReplayRig(policy, 16384, 20480, LENGTH, 42, servicing.equals("combining"), reclaimCluster,
                DeviceSource.named(backend), backend.equals("cuda") ? DataPlane.REAL : DataPlane.METADATA);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        rig.close();
    }

    @Benchmark
    @OperationsPerInvocation(LENGTH)
    public long replay() {
        return rig.replay();
    }

    @Benchmark
    @OperationsPerInvocation(LENGTH)
    public long referenceLru() {
        return rig.referenceLru();
    }
}
