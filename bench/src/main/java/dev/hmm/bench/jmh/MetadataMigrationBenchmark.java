package dev.hmm.bench.jmh;

import dev.hmm.bench.MigrateRig;
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
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * METADATA migration rate: 4 KiB pages, batches of 512, no bytes; the score is pages per second on one thread
 * (each operation moves 512 pages each way). The reference is the same walk over the same number of page-table
 * entries without migrating ({@code referenceTouch}: a CPU touch of every resident page), the cheapest pass over
 * those pages the engine can make.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class MetadataMigrationBenchmark {
    static final int BATCH = 512;
    MigrateRig rig;

    @Setup(Level.Trial)
    public void setUp() {
        rig = new MigrateRig(4096, BATCH, 1, DataPlane.METADATA);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        rig.close();
    }

    @Benchmark
    @OperationsPerInvocation(2 * BATCH)
    public long pagesRoundTrip() {
        return rig.roundTrip();
    }

    @Benchmark
    @OperationsPerInvocation(2 * BATCH)
    public long referenceTouch() {
        return rig.touchAll() + rig.touchAll();
    }
}
