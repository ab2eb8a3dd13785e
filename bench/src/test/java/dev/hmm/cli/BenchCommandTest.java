package dev.hmm.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.hmm.device.cuda.FakeCuda;
import dev.hmm.report.JsonReports;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@code ./hmm bench}: the rows and fields it promises, on tiny runs (figures are not judged here). */
class BenchCommandTest {

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> results(Path json) throws Exception {
        return (List<Map<String, Object>>) JsonReports.read(json).get("results");
    }

    @Test
    void migrate_rows_carry_the_promised_fields(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("m.json");
        SimulateCommandTest.Run r = SimulateCommandTest.hmm("bench", "migrate", "--page-sizes", "4KiB,64KiB",
                "--batches", "1,32", "--threads", "1,2", "--seconds", "0.05", "--json", json.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("engineGBps", "ceilingGBps", "ratio", "METADATA");
        List<Map<String, Object>> rows = results(json);
        assertThat(rows).hasSize(2 * 2 * 2 + 1);
        for (Map<String, Object> row : rows) {
            assertThat(row).containsKeys("pageSize", "batch", "direction", "threads", "engineGBps", "ceilingGBps",
                    "ratio");
            assertThat(((Number) row.get("engineGBps")).doubleValue()).isPositive();
            assertThat(((Number) row.get("ceilingGBps")).doubleValue()).isPositive();
        }
        assertThat(rows.get(0).get("direction")).isEqualTo("round-trip");
        assertThat(JsonReports.read(json)).containsKeys("machine", "date", "suite")
                .containsEntry("firstWarmupSeconds", 2.0).containsEntry("warmupSeconds", 0.3); // the defaults
    }

    // one-way rows: the engine moves the pages one way per operation, the ceiling copies the same bytes one way
    @Test
    void migrate_measures_each_direction_on_request(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("d.json");
        SimulateCommandTest.Run r = SimulateCommandTest.hmm("bench", "migrate", "--page-sizes", "4KiB", "--batches",
                "32", "--threads", "1", "--directions", "to-device,to-ram,round-trip", "--seconds", "0.05",
                "--warmup", "0.05", "--json", json.toString());
        assertThat(r.code()).as(r.err()).isZero();
        List<Map<String, Object>> rows = results(json);
        assertThat(rows).extracting(m -> m.get("direction"))
                .containsExactly("to-device", "to-ram", "round-trip", "metadata-round-trip");
        for (Map<String, Object> row : rows.subList(0, 3)) {
            assertThat(((Number) row.get("engineGBps")).doubleValue()).isPositive();
            assertThat(((Number) row.get("ceilingGBps")).doubleValue()).isPositive();
        }
    }

    // --copy async: the same rows on a device whose copy engine has threads of its own, each row saying which
    @Test
    void migrate_measures_an_asynchronous_copy_engine_on_request(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("a.json");
        SimulateCommandTest.Run r = SimulateCommandTest.hmm("bench", "migrate", "--page-sizes", "4KiB", "--batches",
                "512", "--threads", "1", "--copy", "sync,async", "--seconds", "0.05", "--warmup", "0.05", "--json",
                json.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("async");
        List<Map<String, Object>> rows = results(json);
        assertThat(rows.subList(0, 2)).extracting(m -> m.get("copy")).containsExactly("sync", "async");
        for (Map<String, Object> row : rows.subList(0, 2)) {
            assertThat(((Number) row.get("engineGBps")).doubleValue()).isPositive();
        }
    }

    // without --copy, the target's case (4 KiB x 512, one thread) is measured in both modes; --copy sync keeps it sync
    @Test
    void migrate_measures_the_target_case_asynchronously_too_by_default(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("t.json");
        String[] common = {"bench", "migrate", "--page-sizes", "4KiB", "--batches", "32,512", "--threads", "1",
            "--seconds", "0.05", "--warmup", "0.05", "--json", json.toString()};
        SimulateCommandTest.Run r = SimulateCommandTest.hmm(common);
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(results(json)).extracting(m -> m.get("batch") + " " + m.get("copy"))
                .containsExactly("32 sync", "512 sync", "512 async", "512 null");
        String[] explicit = java.util.Arrays.copyOf(common, common.length + 2);
        explicit[common.length] = "--copy";
        explicit[common.length + 1] = "sync";
        r = SimulateCommandTest.hmm(explicit);
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(results(json)).extracting(m -> m.get("batch") + " " + m.get("copy"))
                .containsExactly("32 sync", "512 sync", "512 null");
    }

    @Test
    void faults_and_replay_rows(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("f.json");
        SimulateCommandTest.Run f = SimulateCommandTest.hmm("bench", "faults", "--batches", "256", "--seconds", "0.05",
                "--warmup", "0.1", "--json", json.toString());
        assertThat(f.code()).as(f.err()).isZero();
        assertThat(JsonReports.read(json)).containsEntry("warmupSeconds", 0.1).containsEntry("firstWarmupSeconds", 0.1);
        assertThat(results(json)).singleElement().satisfies(row -> {
            assertThat(row.get("direction")).isEqualTo("device-fault");
            assertThat(((Number) row.get("engineFaultsPerSecond")).longValue()).isPositive();
        });
        Path rj = dir.resolve("r.json");
        SimulateCommandTest.Run rp = SimulateCommandTest.hmm("bench", "replay", "--policies", "lru", "--seconds", "0.05",
                "--reclaim-cluster", "1", "--json", rj.toString());
        assertThat(rp.code()).as(rp.err()).isZero();
        assertThat(results(rj)).singleElement().satisfies(row -> {
            assertThat(row.get("policy")).isEqualTo("lru");
            assertThat(((Number) row.get("reclaimCluster")).intValue()).isEqualTo(1);
            assertThat(row.get("deviceFaults")).as("exact lru replay faults = textbook LRU misses")
                    .isEqualTo(row.get("referenceLruMisses"));
        });
        assertThat(rp.out()).doesNotContain("ahead of demand");
        // the default cluster evicts ahead of demand: a few more faults than misses, and the table says why
        Path cj = dir.resolve("c.json");
        SimulateCommandTest.Run cl = SimulateCommandTest.hmm("bench", "replay", "--policies", "lru", "--seconds", "0.05",
                "--warmup", "0.1", "--json", cj.toString());
        assertThat(cl.code()).as(cl.err()).isZero();
        assertThat(cl.out()).contains("clusters of 32 frames", "--reclaim-cluster 1");
        assertThat(results(cj)).singleElement().satisfies(row -> {
            assertThat(((Number) row.get("reclaimCluster")).intValue()).isEqualTo(32);
            long faults = ((Number) row.get("deviceFaults")).longValue();
            long misses = ((Number) row.get("referenceLruMisses")).longValue();
            assertThat(faults).isGreaterThan(misses).isLessThan(misses + misses / 100);
        });
    }

    // --backend cuda on this machine's GPU, or on the fake driver without one: the same rows, the GPU named
    @SuppressWarnings("unchecked")
    @Test
    void the_cuda_backend_names_its_gpu_and_fills_every_suite(@TempDir Path dir) throws Exception {
        String lib = FakeCuda.library().orElse(null);
        Assumptions.assumeTrue(lib != null, "no GPU and no C compiler to build the fake CUDA driver");
        Path m = dir.resolve("m.json");
        SimulateCommandTest.Run r = SimulateCommandTest.hmm("bench", "migrate", "--backend", "cuda", "--cuda-library",
                lib, "--page-sizes", "4KiB,64KiB", "--batches", "32", "--seconds", "0.05", "--warmup", "0.05", "--json",
                m.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).startsWith("GPU 0: ");
        Map<String, Object> doc = JsonReports.read(m);
        assertThat(doc).containsEntry("backend", "cuda").containsKey("gpu");
        assertThat((Map<String, Object>) doc.get("gpu")).containsKeys("name", "memoryBytes", "driverVersion")
                .containsEntry("library", lib);
        List<Map<String, Object>> rows = results(m);
        assertThat(rows).hasSize(2 + 1);
        assertThat(rows.get(0)).containsEntry("threads", 1).containsEntry("copy", "async").containsKey("ceilingGBps");
        assertThat((String) rows.get(0).get("ceiling")).contains("cuMemcpyHtoD");
        for (String suite : new String[] {"faults", "replay"}) {
            Path j = dir.resolve(suite + ".json");
            SimulateCommandTest.Run s = SimulateCommandTest.hmm("bench", suite, "--backend", "cuda", "--cuda-library",
                    lib, "--batches", "256", "--policies", "lru", "--seconds", "0.05", "--warmup", "0.05", "--json",
                    j.toString());
            assertThat(s.code()).as(s.err()).isZero();
            assertThat(results(j)).singleElement().satisfies(row ->
                    assertThat(((Number) row.get("engineGBps")).doubleValue()).isPositive());
        }
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "bench|SUITE", "bench migrate --backend cuda --cuda-library /nonexistent/libcuda.so.1|--backend",
        "bench metadata --backend cuda|--backend", "bench migrate --backend cuda --threads 1,2|--threads",
        "bench migrate --backend gpu|--backend", "bench sideways|SUITE", "bench migrate --directions up|--directions",
        "bench migrate --page-sizes 8KiB|--page-sizes", "bench migrate --batches 0|--batches",
        "bench replay --policies nope|--policies", "bench faults --seconds -1|--seconds",
        "bench faults --warmup 61|--warmup", "bench faults --warmup x|--warmup",
        "bench replay --reclaim-cluster 0|--reclaim-cluster", "bench replay --reclaim-cluster x|--reclaim-cluster",
        "bench migrate --json /proc/nope/x.json|--json", "bench migrate --copy later|--copy",
        "bench migrate --backend cuda --copy sync|--copy"})
    void bad_input_is_one_line_and_exit_2(String args, String named) {
        SimulateCommandTest.Run r = SimulateCommandTest.hmm(args.split(" "));
        assertThat(r.code()).as(r.err()).isEqualTo(2);
        assertThat(r.err().strip().lines().count()).as(r.err()).isEqualTo(1);
        assertThat(r.err()).doesNotContain("\tat ");
        assertThat(r.err()).contains(named);
    }
}
