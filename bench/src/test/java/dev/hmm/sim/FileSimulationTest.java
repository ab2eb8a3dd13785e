package dev.hmm.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.hmm.mm.DataPlane;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --file}: runs over shared and private file mappings, and files that change under the run. */
class FileSimulationTest {

    static byte[] randomFile(Path p, int bytes, long seed) throws IOException {
        byte[] b = new byte[bytes];
        new Random(seed).nextBytes(b);
        Files.write(p, b);
        return b;
    }

    static SimulationConfig config(Workload w, long footprint, long deviceMemory, Path file,
            SimulationConfig.FileMapping mapping, int cpuThreads) {
        return config(w, footprint, deviceMemory, file, mapping, cpuThreads, 0);
    }

    static SimulationConfig config(Workload w, long footprint, long deviceMemory, Path file,
            SimulationConfig.FileMapping mapping, int cpuThreads, long ram) {
        SimulationConfig d = SimulationConfig.defaults();
        return new SimulationConfig(w, footprint, deviceMemory, d.deviceType(), d.pageSize(), ram, cpuThreads, 2, 1,
                d.migrateBatch(), 0, 7, DataPlane.REAL, 1, d.faults(), d.accessSize(), "lru", 0,
                d.reclaimCluster(), file, mapping);
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> fileFields(SimulationReport r) {
        return (Map<String, Object>) r.fields().get("fileMapping");
    }

    @Test
    void a_shared_mapping_ends_with_the_file_equal_to_the_shadow() throws Exception {
        Path p = Files.createTempFile("hmm-shared", ".bin");
        try {
            byte[] before = randomFile(p, 2 << 20, 1);
            SimulationReport r = new Simulation(config(Workload.PINGPONG, 2 << 20, 1 << 20, p,
                    SimulationConfig.FileMapping.SHARED, 2)).run();
            assertThat(r.ok()).as(r.fields().toString()).isTrue();
            assertThat(r.number("fileReadPages")).isGreaterThanOrEqualTo(512);
            assertThat(r.number("writebackPages")).as("evicted dirty pages and msync").isGreaterThanOrEqualTo(512);
            assertThat(r.number("evictions")).isPositive();
            assertThat(((Number) fileFields(r).get("fileCheckMismatchBytes")).longValue()).isZero();
            assertThat(Files.readAllBytes(p)).isNotEqualTo(before);
        } finally {
            Files.deleteIfExists(p);
        }
    }

    @Test
    void a_private_mapping_never_changes_the_file() throws Exception {
        Path p = Files.createTempFile("hmm-private", ".bin");
        try {
            byte[] before = randomFile(p, 2 << 20, 2);
            SimulationReport r = new Simulation(config(Workload.RANDOM, 2 << 20, 1 << 20, p,
                    SimulationConfig.FileMapping.PRIVATE, 2)).run();
            assertThat(r.ok()).as(r.fields().toString()).isTrue();
            assertThat(((Number) fileFields(r).get("cpuCowFaults")).longValue()).isPositive();
            assertThat(r.number("writebackPages")).isZero();
            assertThat(Files.readAllBytes(p)).isEqualTo(before);
        } finally {
            Files.deleteIfExists(p);
        }
    }

    @Test
    void a_file_truncated_during_the_run_is_a_one_line_error_that_says_where_the_dirty_pages_went(
            @TempDir Path dir) throws Exception {
        Path p = dir.resolve("f");
        randomFile(p, 1 << 20, 3);
        Simulation sim = new Simulation(config(Workload.STREAM, 1 << 20, 4 << 20, p,
                SimulationConfig.FileMapping.SHARED, 0)).beforeWorkload(() -> {
                    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
                        ch.truncate(64 * 1024);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
        assertThatThrownBy(sim::run).isInstanceOf(BadInputException.class)
                .hasMessageStartingWith("--file: ").hasMessageContaining("changed during the run")
                .hasMessageContaining("truncated").hasMessageContaining("written back")
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
    }

    @Test
    void a_file_deleted_during_the_run_is_reported_not_silently_lost(@TempDir Path dir) throws Exception {
        Path p = dir.resolve("f");
        randomFile(p, 1 << 20, 4);
        Simulation sim = new Simulation(config(Workload.PINGPONG, 1 << 20, 4 << 20, p,
                SimulationConfig.FileMapping.SHARED, 1)).beforeWorkload(() -> {
                    try {
                        Files.delete(p);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
        assertThatThrownBy(sim::run).isInstanceOf(BadInputException.class).hasMessageStartingWith("--file: ")
                .hasMessageContaining("deleted");
    }

    @Test
    void files_that_cannot_be_mapped_are_refused_before_the_run(@TempDir Path dir) throws Exception {
        Path small = dir.resolve("small");
        randomFile(small, 10_000, 5);
        assertThatThrownBy(() -> new Simulation(config(Workload.PINGPONG, 16_384, 1 << 20, small,
                SimulationConfig.FileMapping.SHARED, 1)).run()).hasMessageContaining("--file")
                .hasMessageContaining("10000 bytes");
        assertThatThrownBy(() -> new Simulation(config(Workload.PINGPONG, 4096, 1 << 20, dir.resolve("missing"),
                SimulationConfig.FileMapping.SHARED, 1)).run()).hasMessageContaining("does not exist");
        assertThatThrownBy(() -> new Simulation(config(Workload.PINGPONG, 4096, 1 << 20, dir,
                SimulationConfig.FileMapping.SHARED, 1)).run()).hasMessageContaining("not a regular file");
        assertThatThrownBy(() -> config(Workload.PINGPONG, 1 << 20, 1 << 20, small,
                SimulationConfig.FileMapping.PRIVATE, 1, 1 << 20)).hasMessageContaining("--ram")
                .hasMessageContaining("private copies");
    }
}
