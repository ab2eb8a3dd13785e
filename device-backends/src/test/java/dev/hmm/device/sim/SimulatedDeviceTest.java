package dev.hmm.device.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.hmm.mm.AddressSpace;
import dev.hmm.mm.DataPlane;
import dev.hmm.mm.Device;
import dev.hmm.mm.EngineConfig;
import dev.hmm.mm.HmmEngine;
import dev.hmm.mm.MemoryType;
import dev.hmm.mm.MigrateResult;
import dev.hmm.mm.MigrationResult;
import dev.hmm.mm.Prot;
import dev.hmm.mm.StressHarness;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class SimulatedDeviceTest {

    // the simulated device with a multi-threaded copy engine moves data intact at every page size
    @ParameterizedTest
    @CsvSource({"4096,1", "4096,3", "65536,2", "2097152,2"})
    void migrates_both_ways_at_every_page_size(int pageSize, int copyThreads) {
        EngineConfig c = EngineConfig.of(64L << 20).withPageSize(pageSize).withMigrateBatchPages(64);
        try (HmmEngine engine = HmmEngine.create(c)) {
            Device gpu = engine.attachDevice(new SimulatedDevice(
                    SimDeviceConfig.privateDevice("gpu0", 32L << 20).withCopyThreads(copyThreads)));
            AddressSpace mm = engine.createAddressSpace();
            long len = 16L << 20;
            long va = mm.mmap(len, Prot.READ_WRITE);
            byte[] data = new byte[(int) len];
            new java.util.Random(pageSize).nextBytes(data);
            mm.write(va, data);
            MigrationResult r = engine.migrate(mm, va, len, gpu);
            assertThat(r.migrated()).isEqualTo(len / pageSize);
            byte[] seen = new byte[(int) len];
            gpu.read(mm, va, seen);
            assertThat(seen).isEqualTo(data);
            assertThat(engine.migrateToRam(mm, va, len).migrated()).isEqualTo(len / pageSize);
            mm.read(va, seen);
            assertThat(seen).isEqualTo(data);
            assertThat(engine.check()).isEmpty();
        }
    }

    @Test
    void injected_copy_failures_roll_back_the_chosen_pages() {
        try (HmmEngine engine = HmmEngine.create(EngineConfig.of(16L << 20))) {
            SimulatedDevice sim = new SimulatedDevice(SimDeviceConfig.privateDevice("gpu0", 8L << 20));
            Device gpu = engine.attachDevice(sim);
            AddressSpace mm = engine.createAddressSpace();
            long va = mm.mmap(64 * 4096, Prot.READ_WRITE);
            mm.write(va, new byte[64 * 4096]);
            sim.injectCopyFailures((seq, i, s, d) -> i % 8 == 0);
            MigrationResult r = engine.migrate(mm, va, 64 * 4096, gpu);
            assertThat(r.count(MigrateResult.COPY_FAILED)).isEqualTo(8);
            sim.injectCopyFailures(null);
            assertThat(engine.migrate(mm, va, 64 * 4096, gpu).migrated()).isEqualTo(8);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"DEVICE_PRIVATE", "DEVICE_COHERENT"})
    void stress_with_two_copy_threads(MemoryType type) throws Exception {
        try (HmmEngine engine = HmmEngine.create(EngineConfig.of(8L << 20).withMigrateBatchPages(64))) {
            Device gpu = engine.attachDevice(new SimulatedDevice(
                    new SimDeviceConfig("gpu0", 4L << 20, type, 2)));
            AddressSpace mm = engine.createAddressSpace();
            long len = 512L * 4096;
            long va = mm.mmap(len, Prot.READ_WRITE);
            StressHarness.Outcome out = StressHarness.run(engine, mm, va, len, List.of(gpu),
                    StressHarness.Options.defaults().withOps(3_000));
            assertThat(out.clean()).as(out.toString()).isTrue();
        }
    }

    @Test
    void metadata_plane_runs_the_same_path_without_bytes() {
        try (HmmEngine engine = HmmEngine.create(EngineConfig.of(1L << 30).withDataPlane(DataPlane.METADATA))) {
            Device gpu = engine.attachDevice(new SimulatedDevice(SimDeviceConfig.privateDevice("gpu0", 1L << 30)));
            AddressSpace mm = engine.createAddressSpace();
            long va = mm.mmap(1L << 30, Prot.READ_WRITE);
            mm.touch(va, 1L << 30, dev.hmm.mm.AccessType.WRITE);
            assertThat(engine.migrate(mm, va, 1L << 30, gpu).migrated()).isEqualTo((1L << 30) / 4096);
            gpu.touch(mm, va, 1L << 30, dev.hmm.mm.AccessType.READ);
            mm.touch(va, 4096, dev.hmm.mm.AccessType.READ);
            assertThat(engine.stats().pagesToRam()).isEqualTo(1);
            assertThatThrownBy(() -> mm.read(va, new byte[1])).hasMessageContaining("METADATA");
            assertThat(engine.check()).isEmpty();
        }
    }

    @Test
    void bad_configurations_are_refused_with_the_value() {
        assertThatThrownBy(() -> new SimDeviceConfig("gpu0", 0, MemoryType.DEVICE_PRIVATE, 1))
                .hasMessageContaining("capacityBytes=0");
        assertThatThrownBy(() -> new SimDeviceConfig("gpu0", 1 << 20, MemoryType.SYSTEM_RAM, 1))
                .hasMessageContaining("type=SYSTEM_RAM");
        try (HmmEngine engine = HmmEngine.create(EngineConfig.of(1L << 20))) {
            assertThatThrownBy(() -> engine.attachDevice(new SimulatedDevice(
                    SimDeviceConfig.privateDevice("gpu0", 5000)))).hasMessageContaining("capacity=5000");
        }
    }
}
