package dev.hmm.bench.jmh;

import static org.assertj.core.api.Assertions.assertThat;

import dev.hmm.device.cuda.FakeCuda;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.runner.options.VerboseMode;

/**
 * Every JMH benchmark of the suite, every method and every value of its parameters (but the largest migration),
 * runs once, briefly, in this JVM: a benchmark whose set-up or checks fail fails the build, instead of silently
 * dropping its rows from a long run's table (as {@code CpuFaultLatencyBenchmark}'s reference did until this test).
 * Figures are not looked at beyond being positive: speed is measured in docs/benchmarks.md.
 */
class JmhSuiteTest {
    private static final String PKG = JmhSuiteTest.class.getPackageName();

    private static OptionsBuilder brief(String include) {
        OptionsBuilder b = new OptionsBuilder();
        b.include(include)
                .forks(0) // in this JVM: surefire's flags (native access) apply, and it takes seconds, not minutes
                .warmupIterations(0)
                .measurementIterations(1)
                .measurementTime(TimeValue.milliseconds(50))
                .shouldFailOnError(true)
                .verbosity(VerboseMode.SILENT);
        return b;
    }

    private static Set<String> checkedNames(Collection<RunResult> results) {
        Set<String> ran = new TreeSet<>();
        for (RunResult r : results) {
            String label = r.getParams().getBenchmark() + " " + r.getParams().getParamsKeys().stream()
                    .map(k -> k + "=" + r.getParams().getParam(k)).toList();
            assertThat(r.getPrimaryResult().getScore()).as(label).isFinite().isPositive();
            ran.add(r.getParams().getBenchmark().replace(PKG + ".", ""));
        }
        return ran;
    }

    @Test
    void every_benchmark_runs_and_reports_a_score() throws RunnerException {
        // 2 MiB x 512 pages is 1 GiB on each side of the copy: 2 MiB pages run in batches of 1 and 32 only
        List<RunResult> results = new ArrayList<>(new Runner(brief(PKG + "\\.")
                .param("pageSize", "4096", "65536").build()).run());
        results.addAll(new Runner(brief(PKG + "\\.MigrateVmaBenchmark\\.")
                .param("pageSize", "2097152").param("batch", "1", "32").build()).run());

        assertThat(checkedNames(results)).containsExactlyInAnyOrder(
                "CpuFaultLatencyBenchmark.faultAndMigrateToRam", "CpuFaultLatencyBenchmark.referenceResidentRead",
                "DeviceFaultBenchmark.faults", "DeviceFaultBenchmark.referenceQueue",
                "LruRecordingBenchmark.residentAccess", "LruRecordingBenchmark.residentAccessContended",
                "MetadataMigrationBenchmark.pagesRoundTrip", "MetadataMigrationBenchmark.referenceTouch",
                "MigrateVmaBenchmark.roundTrip", "MigrateVmaBenchmark.referenceCopy",
                "ReplayBenchmark.replay", "ReplayBenchmark.referenceLru");
        // MigrateVmaBenchmark: (2 page sizes x 3 batches + 2 batches of 2 MiB) x 2 thread counts x 2 engines
        assertThat(results).filteredOn(r -> r.getParams().getBenchmark().endsWith("MigrateVmaBenchmark.roundTrip"))
                .hasSize(32);
    }

    /**
     * The benchmarks a GPU session runs with {@code -p backend=cuda} (and the {@code nocopy} diagnostic), against the
     * fake driver where there is no GPU: a GPU is lent for minutes, too few to find a benchmark that cannot start.
     */
    @Test
    void the_backends_other_than_the_default_run_too() throws RunnerException {
        Optional<String> library = FakeCuda.library();
        Assumptions.assumeTrue(library.isPresent(), "neither a GPU nor a C compiler for the fake driver");
        String before = System.getProperty("hmm.cuda.library");
        System.setProperty("hmm.cuda.library", library.get()); // forks(0): DeviceSource reads it in this JVM
        try {
            List<RunResult> results = new ArrayList<>(new Runner(
                    brief(PKG + "\\.(MigrateVma|DeviceFault|Replay)Benchmark\\.")
                    .param("backend", "cuda").param("pageSize", "4096", "65536").param("copyThreads", "1")
                    .param("faultBatch", "256").param("servicing", "combining").param("policy", "lru").build()).run());
            results.addAll(new Runner(brief(PKG + "\\.MigrateVmaBenchmark\\.roundTrip")
                    .param("backend", "nocopy").param("pageSize", "4096").param("batch", "512").build()).run());
            assertThat(checkedNames(results)).containsExactlyInAnyOrder(
                    "DeviceFaultBenchmark.faults", "DeviceFaultBenchmark.referenceQueue",
                    "MigrateVmaBenchmark.roundTrip", "MigrateVmaBenchmark.referenceCopy",
                    "ReplayBenchmark.replay", "ReplayBenchmark.referenceLru");
            // faults and replay: one case each, with its reference; migrate: 2 page sizes x 3 batches, with reference
            assertThat(results).filteredOn(r -> r.getParams().getParam("backend").equals("cuda"))
                    .hasSize(2 + 2 + 2 * 3 * 2);
        } finally {
            if (before == null) {
                System.clearProperty("hmm.cuda.library");
            } else {
                System.setProperty("hmm.cuda.library", before);
            }
        }
    }
}
