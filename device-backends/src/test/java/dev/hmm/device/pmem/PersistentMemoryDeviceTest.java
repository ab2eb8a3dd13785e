package dev.hmm.device.pmem;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.hmm.device.sim.SimDeviceConfig;
import dev.hmm.device.sim.SimulatedDevice;
import dev.hmm.mm.AddressSpace;
import dev.hmm.mm.Device;
import dev.hmm.mm.EngineConfig;
import dev.hmm.mm.HmmEngine;
import dev.hmm.mm.MigrateResult;
import dev.hmm.mm.MigrationResult;
import dev.hmm.mm.Prot;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** fsdax-style persistent memory: DAX mappings write the file's bytes, nothing moves, data survives a reopen. */
class PersistentMemoryDeviceTest {
    static final int PAGE = 4096;

    @Test
    void persistent_memory_refuses_migration_and_keeps_data_across_reopen(@TempDir Path dir) throws Exception {
        Path img = dir.resolve("pmem.img");
        long capacity = 64L * PAGE;
        byte[] data = new byte[16 * PAGE];
        new Random(11).nextBytes(data);
        long offset = 8L * PAGE;
        try (HmmEngine engine = HmmEngine.create(EngineConfig.of(4L << 20))) {
            Device pmem = engine.attachDevice(new PersistentMemoryDevice("pmem0", img, capacity));
            Device gpu = engine.attachDevice(new SimulatedDevice(SimDeviceConfig.privateDevice("gpu0", 1L << 20)));
            AddressSpace mm = engine.createAddressSpace();
            long va = mm.mmapDax(pmem, offset, data.length, Prot.READ_WRITE);
            mm.write(va, data); // in place: no fault brings anything to RAM
            assertThat(mm.page(va).isOn(pmem.node())).isTrue();
            assertThat(engine.stats().pagesToRam()).isZero();

            MigrationResult toGpu = engine.migrate(mm, va, data.length, gpu);
            assertThat(toGpu.count(MigrateResult.UNMOVABLE)).isEqualTo(16);
            assertThat(toGpu.migrated()).isZero();
            MigrationResult toRam = engine.migrateToRam(mm, va, data.length);
            assertThat(toRam.migrated()).isZero();
            assertThat(mm.page(va + 5L * PAGE).isOn(pmem.node())).isTrue();

            // the GPU reaches persistent memory where it is, over the link
            byte[] seen = new byte[data.length];
            gpu.read(mm, va, seen);
            assertThat(seen).isEqualTo(data);
            assertThat(engine.stats().remoteAccesses()).isPositive();
            byte[] patch = new byte[100];
            Arrays.fill(patch, (byte) 0x5a);
            gpu.write(mm, va + 3L * PAGE + 7, patch);
            System.arraycopy(patch, 0, data, 3 * PAGE + 7, patch.length);
            assertThat(mm.page(va + 3L * PAGE).isOn(pmem.node())).as("a device write does not move it").isTrue();
            assertThat(engine.check()).isEmpty();
        }
        // the bytes are in the file, where the DAX mapping put them
        byte[] file = Files.readAllBytes(img);
        assertThat(file).hasSize((int) capacity);
        assertThat(Arrays.copyOfRange(file, (int) offset, (int) offset + data.length)).isEqualTo(data);

        // and a fresh engine on the same file sees them
        try (HmmEngine engine = HmmEngine.create(EngineConfig.of(4L << 20))) {
            Device pmem = engine.attachDevice(new PersistentMemoryDevice("pmem0", img, capacity));
            AddressSpace mm = engine.createAddressSpace();
            long va = mm.mmapDax(pmem, offset, data.length, Prot.READ);
            byte[] seen = new byte[data.length];
            mm.read(va, seen);
            assertThat(seen).isEqualTo(data);
        }
    }

    @Test
    void dax_mappings_must_fit_and_must_map_persistent_memory(@TempDir Path dir) {
        try (HmmEngine engine = HmmEngine.create(EngineConfig.of(4L << 20))) {
            Device pmem = engine.attachDevice(new PersistentMemoryDevice("pmem0", dir.resolve("p"), 8L * PAGE));
            Device gpu = engine.attachDevice(new SimulatedDevice(SimDeviceConfig.privateDevice("gpu0", 1L << 20)));
            AddressSpace mm = engine.createAddressSpace();
            assertThatThrownBy(() -> mm.mmapDax(pmem, 4L * PAGE, 8L * PAGE, Prot.READ))
                    .hasMessageContaining("does not fit");
            assertThatThrownBy(() -> mm.mmapDax(gpu, 0, PAGE, Prot.READ)).hasMessageContaining("persistent");
        }
        assertThatThrownBy(() -> new PersistentMemoryDevice("pmem0", dir.resolve("q"), 0))
                .hasMessageContaining("positive");
    }
}
