package dev.hmm.bench.jmh;

import dev.hmm.bench.DeviceSource;
import dev.hmm.bench.MigrateRig;
import dev.hmm.mm.DataPlane;
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
 * {@code migrate_vma} throughput, REAL data: one operation moves {@code batch} pages of {@code pageSize} RAM to device
 * and back ({@code roundTrip}), next to the raw-copy ceiling of the same bytes ({@code referenceCopy}). Bytes per
 * second = ops/s x 2 x batch x pageSize for both; their ratio is the figure docs/benchmarks.md records.
 *
 * <p>{@code -p backend=cuda} runs it on GPU 0 through the CUDA driver (copy threads do not apply: run it with
 * {@code -p copyThreads=1}); its ceiling is then a bulk {@code cuMemcpyHtoD} and {@code cuMemcpyDtoH} of the same bytes
 * between pinned host memory and the GPU. {@code -jvmArgsAppend -Dhmm.cuda.library=PATH} picks another driver library.
 *
 * {@snippet lang = "shell" :
 * java -jar bench/target/benchmarks.jar MigrateVmaBenchmark -p pageSize=4096 -p batch=512
 * java -jar bench/target/benchmarks.jar MigrateVmaBenchmark -p pageSize=4096 -p batch=512 -p backend=sim,sim-async
 * java -jar bench/target/benchmarks.jar MigrateVmaBenchmark -p backend=cuda -p copyThreads=1
 * }
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
// 5 warm-up iterations: with sim-async the migrating and copy threads keep both cores of a small machine busy, and
// the JIT took 3 iterations to compile the pipeline there (docs/benchmarks.md)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class MigrateVmaBenchmark {
    @Param({"4096", "65536", "2097152"})
    int pageSize;

    @Param({"1", "32", "512"})
    int batch;

    @Param({"1", "2"})
    int copyThreads;

    /**
     * {@code sim} (the simulated device: the migrating thread copies, helped by {@code copyThreads - 1} others),
     * {@code sim-async} (the simulated device with an asynchronous copy engine: {@code copyThreads} threads of its own
     * copy while the migrating thread does the next chunk's page-table work), {@code cuda} (GPU 0), or {@code nocopy}
     * (a diagnostic: the simulated device with a copy engine that copies nothing, so that {@code roundTrip} is the
     * engine's own work in the REAL layout).
     */
    @Param({"sim", "sim-async"})
    String backend;

    MigrateRig rig;

    @Setup(Level.Trial)
    public void setUp() {
        rig = new MigrateRig(pageSize, batch, copyThreads, DataPlane.REAL, DeviceSource.named(backend));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        rig.close();
    }

    @Benchmark
    public long roundTrip() {
        return rig.roundTrip();
    }

    @Benchmark
    public byte referenceCopy() {
        return rig.referenceRoundTrip();
    }
}
