package dev.hmm.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.hmm.report.JsonReports;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class SimulateCommandTest {
    record Run(int code, String out, String err) {
    }

    static Run hmm(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new Run(code, out.toString(), err.toString());
    }

    @ParameterizedTest
    @CsvSource({
        "pingpong,private,real", "pingpong,coherent,real", "stream,private,real", "random,private,real",
        "random,coherent,real", "pingpong,private,metadata", "random,private,metadata", "stream,coherent,metadata"})
    void simulate_writes_a_report_with_every_field_and_no_data_error(String workload, String type, String data,
            @TempDir Path dir) throws Exception {
        Path json = dir.resolve("sub/out.json");
        Run r = hmm("simulate", "--workload", workload, "--device-type", type, "--data", data, "--footprint", "8MiB",
                "--device-memory", "16MiB", "--json", json.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("dataErrors", "pagesToDevice", "report written to");
        Map<String, Object> rep = JsonReports.read(json);
        assertThat(rep).containsKeys("config", "seed", "pagesToDevice", "pagesToRam", "bytesMigrated", "cpuFaults",
                "deviceFaults", "migrationFailures", "wallSeconds", "migrationGBps", "dataErrors");
        @SuppressWarnings("unchecked")
        Map<String, Object> config = (Map<String, Object>) rep.get("config");
        assertThat(config).containsKeys("workload", "footprint", "deviceMemory", "deviceType", "pageSize",
                "cpuThreads", "deviceThreads", "accesses", "seed", "data");
        assertThat(config.get("workload")).isEqualTo(workload);
        assertThat(((Number) rep.get("dataErrors")).longValue()).isZero();
        assertThat((java.util.List<?>) rep.get("invariantViolations")).isEmpty();
        assertThat(((Number) rep.get("pagesToDevice")).longValue()).isPositive();
        if (!workload.equals("random") && type.equals("private")) {
            assertThat(((Number) rep.get("pagesToRam")).longValue()).as("pages moved both ways").isPositive();
        }
    }

    @ParameterizedTest
    @CsvSource({"pingpong,batch-flush,migrate,combining", "random,once,exclusive,thread",
        "random,block,exclusive,combining", "stream,batch,migrate,thread"})
    void two_devices_every_replay_policy_and_the_fault_fields(String workload, String policy, String atomics,
            String servicing, @TempDir Path dir) throws Exception {
        Path json = dir.resolve("r.json");
        Run r = hmm("simulate", "--workload", workload, "--devices", "2", "--replay-policy", policy, "--atomics",
                atomics, "--fault-servicing", servicing, "--fault-batch", "64", "--footprint", "8MiB",
                "--device-memory", "8MiB", "--json", json.toString());
        assertThat(r.code()).as(r.err()).isZero();
        Map<String, Object> rep = JsonReports.read(json);
        assertThat(rep).containsKeys("faultBatches", "duplicateFaults", "invalidations", "rangeFaultRetries",
                "remoteAccesses", "exclusiveRevocations");
        assertThat(((Number) rep.get("faultBatches")).longValue()).isPositive();
        assertThat(((Number) rep.get("dataErrors")).longValue()).isZero();
        long raised = ((Number) rep.get("deviceFaults")).longValue();
        long serviced = ((Number) rep.get("servicedFaults")).longValue();
        long dups = ((Number) rep.get("duplicateFaults")).longValue();
        assertThat(raised).isEqualTo(serviced + dups);
        @SuppressWarnings("unchecked")
        Map<String, Object> config = (Map<String, Object>) rep.get("config");
        assertThat(config).containsEntry("devices", 2).containsEntry("faultBatch", 64)
                .containsEntry("replayPolicy", policy).containsEntry("atomics", atomics)
                .containsEntry("faultServicing", servicing);
        if (workload.equals("random") && atomics.equals("exclusive")) {
            assertThat(((Number) rep.get("exclusiveRevocations")).longValue()).isPositive();
        }
        if (workload.equals("pingpong")) {
            assertThat(((Number) rep.get("invalidations")).longValue()).isPositive();
        }
    }

    // oversubscription: 125% and 200%, on demand and with a watermark, with and without read duplication
    @ParameterizedTest
    @CsvSource({"pingpong,10MiB,8MiB,0,lru,false", "random,16MiB,8MiB,5%,lru,true", "stream,16MiB,8MiB,512KiB,fifo,false",
        "random,10MiB,8MiB,0,lru,true"})
    void oversubscribed_runs_evict_and_keep_every_byte(String workload, String footprint, String device,
            String watermark, String eviction, boolean dup, @TempDir Path dir) throws Exception {
        Path json = dir.resolve("r.json");
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("simulate", "--workload", workload,
                "--footprint", footprint, "--device-memory", device, "--evict-watermark", watermark, "--eviction",
                eviction, "--json", json.toString()));
        if (dup) {
            args.add("--read-duplication");
        }
        Run r = hmm(args.toArray(String[]::new));
        assertThat(r.code()).as(r.err()).isZero();
        Map<String, Object> rep = JsonReports.read(json);
        assertThat(rep).containsKeys("evictions", "evictedBytes", "evictionSkips", "lruLostHints");
        assertThat(((Number) rep.get("evictions")).longValue()).isPositive();
        assertThat(((Number) rep.get("evictedBytes")).longValue())
                .isEqualTo(((Number) rep.get("evictions")).longValue() * 4096);
        assertThat(((Number) rep.get("dataErrors")).longValue()).isZero();
        assertThat((java.util.List<?>) rep.get("invariantViolations")).isEmpty();
    }

    // --reclaim-cluster reaches the report, and both an exact and a clustered reclaim keep every byte (what a cluster
    // evicts is checked in EvictionTest.direct_reclaim_frees_a_cluster)
    @Test
    void the_reclaim_cluster_is_configurable_and_reported(@TempDir Path dir) throws Exception {
        String[] clusters = {"1", "32"};
        for (int k = 0; k < 2; k++) {
            Path json = dir.resolve("r" + k + ".json");
            Run r = hmm("simulate", "--workload", "random", "--footprint", "12MiB", "--device-memory", "8MiB",
                    "--access-size", "4KiB", "--reclaim-cluster", clusters[k], "--json", json.toString());
            assertThat(r.code()).as(r.err()).isZero();
            Map<String, Object> rep = JsonReports.read(json);
            @SuppressWarnings("unchecked")
            Map<String, Object> config = (Map<String, Object>) rep.get("config");
            assertThat(((Number) config.get("reclaimCluster")).intValue()).isEqualTo(Integer.parseInt(clusters[k]));
            assertThat(((Number) rep.get("dataErrors")).longValue()).isZero();
            assertThat((java.util.List<?>) rep.get("invariantViolations")).isEmpty();
            assertThat(((Number) rep.get("evictions")).longValue()).isPositive();
        }
    }

    // --async-copy: every copy, eviction and fault on the devices' own copy threads, pipelined migrations, every byte
    @Test
    void an_asynchronous_copy_engine_keeps_every_byte(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("a.json");
        Run r = hmm("simulate", "--workload", "random", "--footprint", "12MiB", "--device-memory", "8MiB",
                "--async-copy", "--copy-threads", "2", "--migrate-batch", "64", "--json", json.toString());
        assertThat(r.code()).as(r.err()).isZero();
        Map<String, Object> rep = JsonReports.read(json);
        @SuppressWarnings("unchecked")
        Map<String, Object> config = (Map<String, Object>) rep.get("config");
        assertThat(config).containsEntry("asyncCopy", true).containsEntry("copyThreads", 2);
        assertThat(((Number) rep.get("dataErrors")).longValue()).isZero();
        assertThat((java.util.List<?>) rep.get("invariantViolations")).isEmpty();
        assertThat(((Number) rep.get("evictions")).longValue()).isPositive();
    }

    @Test
    void without_eviction_a_full_device_maps_remotely() throws Exception {
        Run r = hmm("simulate", "--footprint", "8MiB", "--device-memory", "4MiB", "--eviction", "none",
                "--workload", "stream");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("outOfDeviceMemory");
    }

    @Test
    void policies_lists_the_registry() {
        Run r = hmm("policies");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("lru", "fifo", "none");
    }

    @Test
    void pingpong_at_64k_and_2m_pages() {
        for (String ps : new String[] {"64KiB", "2MiB"}) {
            Run r = hmm("simulate", "--page-size", ps, "--footprint", "16MiB", "--device-memory", "16MiB");
            assertThat(r.code()).as(ps + ": " + r.err()).isZero();
        }
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "--footprint|banana|--footprint",
        "--footprint|-5|--footprint",
        "--footprint|0|--footprint",
        "--device-memory|12345|--device-memory",
        "--page-size|8KiB|--page-size",
        "--page-size|3|--page-size",
        "--workload|zz|--workload",
        "--device-type|persistent|--device-type",
        "--data|paper|--data",
        "--cpu-threads|-1|--cpu-threads",
        "--accesses|many|--accesses",
        "--copy-threads|0|--copy-threads",
        "--migrate-batch|0|--migrate-batch",
        "--bogus|1|--bogus",
        "--devices|0|--devices",
        "--fault-batch|0|--fault-batch",
        "--fault-buffer|1|--fault-buffer",
        "--replay-policy|sometimes|--replay-policy",
        "--atomics|maybe|--atomics",
        "--fault-servicing|sometimes|--fault-servicing",
        "--access-size|5000|--access-size",
        "--eviction|banana|--eviction",
        "--evict-watermark|101%|--evict-watermark",
        "--evict-watermark|4GiB|--evict-watermark",
        "--evict-watermark|lots|--evict-watermark",
        "--reclaim-cluster|0|--reclaim-cluster",
        "--reclaim-cluster|65537|--reclaim-cluster",
        "--reclaim-cluster|many|--reclaim-cluster"})
    void bad_input_is_one_line_naming_the_option_and_exit_2(String option, String value, String named) {
        Run r = hmm("simulate", option, value);
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err().strip().lines().count()).as(r.err()).isEqualTo(1);
        assertThat(r.err()).contains(named).doesNotContain("Exception").doesNotContain("\tat ");
        assertThat(r.out()).isEmpty();
    }

    @Test
    void a_file_mapping_reports_its_page_cache_fields(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("data.bin");
        byte[] b = new byte[3 << 20];
        new java.util.Random(9).nextBytes(b);
        Files.write(f, b);
        Path json = dir.resolve("r.json");
        Run shared = hmm("simulate", "--file", f.toString(), "--device-memory", "2MiB", "--workload", "random",
                "--json", json.toString());
        assertThat(shared.code()).as(shared.err()).isZero();
        Map<String, Object> rep = JsonReports.read(json);
        assertThat(((Number) rep.get("fileReadPages")).longValue())
                .isGreaterThanOrEqualTo(768);
        assertThat(((Number) rep.get("writebackPages")).longValue()).isPositive();
        assertThat(rep).containsKeys("droppedCleanPages", "fileMapping");
        @SuppressWarnings("unchecked")
        Map<String, Object> config = (Map<String, Object>) rep.get("config");
        assertThat(config.get("footprint")).as("the file's size is the default footprint").isEqualTo(3 << 20);
        assertThat(config.get("mapping")).isEqualTo("shared");

        Files.write(f, b);
        Run priv = hmm("simulate", "--file", f.toString(), "--mapping", "private", "--device-memory", "1MiB",
                "--data", "real");
        assertThat(priv.code()).as(priv.err()).isZero();
        assertThat(Files.readAllBytes(f)).as("MAP_PRIVATE never writes the file").isEqualTo(b);

        Run meta = hmm("simulate", "--file", f.toString(), "--data", "metadata", "--device-memory", "1MiB");
        assertThat(meta.code()).as(meta.err()).isZero();
    }

    @Test
    void bad_file_input_is_one_line_and_exit_2(@TempDir Path dir) throws Exception {
        Path small = dir.resolve("small");
        Files.write(small, new byte[10_000]);
        Path empty = dir.resolve("empty");
        Files.write(empty, new byte[0]);
        String[][] cases = {
            {"--file", dir.resolve("missing").toString()},
            {"--file", dir.toString()},
            {"--file", empty.toString()},
            {"--file", small.toString(), "--footprint", "1MiB"},
            {"--mapping", "private"},
            {"--file", small.toString(), "--mapping", "sideways"}};
        for (String[] c : cases) {
            String[] args = new String[c.length + 1];
            args[0] = "simulate";
            System.arraycopy(c, 0, args, 1, c.length);
            Run r = hmm(args);
            assertThat(r.code()).as(String.join(" ", c) + ": " + r.err()).isEqualTo(2);
            assertThat(r.err().strip().lines().count()).as(r.err()).isEqualTo(1);
            String named = c[c.length - 2]; // the last option given is the one at fault
            assertThat(r.err()).contains(named.equals("--footprint") ? "--file" : named).doesNotContain("Exception")
                    .doesNotContain("\tat ");
        }
        assertThat(Files.size(small)).isEqualTo(10_000);
    }

    // --backend cuda: a workload on this machine's GPU (or the fake driver without one), oversubscribed, every byte
    // checked against the shadow copy at the end
    @Test
    void a_workload_on_the_cuda_backend_keeps_every_byte(@TempDir Path dir) throws Exception {
        String lib = dev.hmm.device.cuda.FakeCuda.library().orElse(null);
        org.junit.jupiter.api.Assumptions.assumeTrue(lib != null, "no GPU and no C compiler for the fake driver");
        Path json = dir.resolve("r.json");
        Run r = hmm("simulate", "--backend", "cuda", "--cuda-library", lib, "--workload", "random", "--footprint",
                "12MiB", "--device-memory", "8MiB", "--json", json.toString());
        assertThat(r.code()).as(r.err()).isZero();
        Map<String, Object> rep = JsonReports.read(json);
        @SuppressWarnings("unchecked")
        Map<String, Object> config = (Map<String, Object>) rep.get("config");
        assertThat(config).containsEntry("backend", "cuda").containsEntry("cudaLibrary", lib);
        @SuppressWarnings("unchecked")
        Map<String, Object> gpu0 = (Map<String, Object>) ((Map<String, Object>) rep.get("gpus")).get("gpu0");
        assertThat(((Number) gpu0.get("kernelLaunches")).longValue()).isPositive();
        assertThat(((Number) gpu0.get("failedBatches")).longValue()).isZero();
        assertThat(((Number) rep.get("evictions")).longValue()).isPositive();
        assertThat(((Number) rep.get("dataErrors")).longValue()).isZero();
        assertThat(((Number) rep.get("finalCheckMismatchBytes")).longValue()).isZero();
        assertThat((java.util.List<?>) rep.get("invariantViolations")).isEmpty();
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "--backend cuda --cuda-library /nonexistent/libcuda.so.1|--backend",
        "--backend cuda --device-type coherent|--device-type",
        "--backend cuda --copy-threads 2|--copy-threads",
        "--backend opencl|--backend"})
    void a_cuda_backend_that_cannot_run_is_one_line_and_exit_2(String args, String named) {
        java.util.List<String> a = new java.util.ArrayList<>(java.util.List.of("simulate", "--footprint", "4MiB"));
        a.addAll(java.util.List.of(args.split(" ")));
        Run r = hmm(a.toArray(String[]::new));
        assertThat(r.code()).as(r.err()).isEqualTo(2);
        assertThat(r.err().strip().lines().count()).as(r.err()).isEqualTo(1);
        assertThat(r.err()).contains(named).doesNotContain("\tat ");
    }

    @Test
    void impossible_configurations_exit_2() {
        Run tooBig = hmm("simulate", "--footprint", "2GiB", "--ram", "1GiB", "--device-memory", "512MiB");
        assertThat(tooBig.code()).isEqualTo(2);
        assertThat(tooBig.err()).contains("cannot fit in device memory");
        Run noThreads = hmm("simulate", "--cpu-threads", "0", "--device-threads", "0");
        assertThat(noThreads.code()).isEqualTo(2);
        Run huge = hmm("simulate", "--footprint", "4TiB", "--device-memory", "1TiB");
        assertThat(huge.code()).isEqualTo(2);
        assertThat(huge.err()).contains("--data metadata");
    }

    @ParameterizedTest
    @ValueSource(strings = {"/proc/nope/out.json", "."})
    void an_unwritable_json_target_is_refused_before_the_run(String target) {
        Run r = hmm("simulate", "--footprint", "4MiB", "--device-memory", "4MiB", "--json", target);
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).startsWith("hmm simulate: --json:");
        assertThat(r.out()).isEmpty();
    }

    @Test
    void help_and_missing_subcommand() {
        assertThat(hmm("--help").code()).isZero();
        assertThat(hmm("simulate", "--help").out()).contains("--footprint", "--device-memory", "--json");
        Run none = hmm();
        assertThat(none.code()).isEqualTo(2);
        assertThat(none.err()).contains("missing subcommand");
    }

    @Test
    void sizes_parse_and_format() {
        assertThat(Sizes.parse("4KiB")).isEqualTo(4096);
        assertThat(Sizes.parse("256MiB")).isEqualTo(256L << 20);
        assertThat(Sizes.parse("1GiB")).isEqualTo(1L << 30);
        assertThat(Sizes.parse("1_024")).isEqualTo(1024);
        assertThat(Sizes.parse("2m")).isEqualTo(2L << 20);
        assertThat(Sizes.format(4096)).isEqualTo("4KiB");
        assertThat(Sizes.format(1280L << 20)).isEqualTo("1280MiB");
        assertThat(Files.exists(Path.of("."))).isTrue();
    }
}
