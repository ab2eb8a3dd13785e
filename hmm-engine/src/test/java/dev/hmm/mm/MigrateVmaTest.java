package dev.hmm.mm;

import static dev.hmm.mm.Fixture.PAGE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

/**
 * {@code migrate_vma}: the hmm-tests migration cases, run for device-private and device-coherent memory (the
 * {@code hmm_device_private} / {@code hmm_device_coherent} fixture variants), and one test per per-page reason that
 * sets its cause up.
 */
class MigrateVmaTest {
    static final int NPAGES = 1024;
    static final long SIZE = (long) NPAGES * PAGE;

    // migrate: anonymous pages holding i are migrated; the device sees i; the CPU entries point at device frames
    @ParameterizedTest
    @EnumSource(value = MemoryType.class, names = {"DEVICE_PRIVATE", "DEVICE_COHERENT"})
    void migrate(MemoryType type) {
        try (Fixture f = new Fixture(type, 16L << 20, 8L << 20)) {
            long va = f.mm.mmap(SIZE, Prot.READ_WRITE);
            f.fillInts(va, (int) SIZE, 0);
            MigrationResult r = f.engine.migrate(f.mm, va, SIZE, f.device);
            assertThat(r.migrated()).isEqualTo(NPAGES);
            assertThat(f.mm.page(va).isOn(f.device.node())).isTrue();
            assertThat(f.mm.page(va).kind()).isEqualTo(type == MemoryType.DEVICE_PRIVATE
                    ? PageInfo.Kind.DEVICE_PRIVATE : PageInfo.Kind.PRESENT);
            byte[] mirror = new byte[(int) SIZE];
            long faults = f.engine.stats().deviceFaults();
            f.device.read(f.mm, va, mirror);
            Fixture.assertInts(mirror, 0);
            assertThat(f.engine.stats().deviceFaults()).as("resident pages need no device fault").isEqualTo(faults);
            assertThat(f.engine.stats().pagesToDevice()).isEqualTo(NPAGES);
            assertThat(f.engine.stats().bytesMigrated()).isEqualTo(SIZE);
            assertThat(f.engine.ram().freeFrames()).isEqualTo(f.engine.ram().frames());
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // migrate_fault: migrate, CPU-read the first half (faults back), migrate the whole range again
    @ParameterizedTest
    @EnumSource(value = MemoryType.class, names = {"DEVICE_PRIVATE", "DEVICE_COHERENT"})
    void migrate_fault(MemoryType type) {
        try (Fixture f = new Fixture(type, 16L << 20, 8L << 20)) {
            long va = f.mm.mmap(SIZE, Prot.READ_WRITE);
            f.fillInts(va, (int) SIZE, 0);
            f.engine.migrate(f.mm, va, SIZE, f.device);
            byte[] half = new byte[(int) SIZE / 2];
            f.mm.read(va, half);
            Fixture.assertInts(half, 0);
            long back = f.engine.stats().pagesToRam();
            if (type == MemoryType.DEVICE_PRIVATE) {
                assertThat(back).isEqualTo(NPAGES / 2);
                assertThat(f.engine.stats().cpuDevicePrivateFaults()).isEqualTo(NPAGES / 2);
            } else {
                assertThat(back).as("coherent memory is read in place").isZero();
            }
            MigrationResult r = f.engine.migrate(f.mm, va, SIZE, f.device);
            assertThat(r.migrated() + r.count(MigrateResult.ALREADY_ON_TARGET)).isEqualTo(NPAGES);
            assertThat(r.migrated()).isEqualTo(back);
            byte[] all = new byte[(int) SIZE];
            f.device.read(f.mm, va, all);
            Fixture.assertInts(all, 0);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // migrate_multiple: ten rounds of fresh buffer, migrate, explicit migrate back, CPU check
    @ParameterizedTest
    @EnumSource(value = MemoryType.class, names = {"DEVICE_PRIVATE", "DEVICE_COHERENT"})
    void migrate_multiple(MemoryType type) {
        try (Fixture f = new Fixture(type, 8L << 20, 8L << 20)) {
            for (int c = 0; c < 10; c++) {
                long va = f.mm.mmap(SIZE, Prot.READ_WRITE);
                f.fillInts(va, (int) SIZE, c);
                assertThat(f.engine.migrate(f.mm, va, SIZE, f.device).migrated()).isEqualTo(NPAGES);
                assertThat(f.engine.migrateToRam(f.mm, va, SIZE).migrated()).isEqualTo(NPAGES);
                byte[] b = new byte[(int) SIZE];
                f.mm.read(va, b);
                Fixture.assertInts(b, c);
                f.mm.munmap(va, SIZE);
            }
            assertThat(f.device.freeFrames()).isEqualTo(f.device.node().frames());
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // migrate_anon_huge_empty: untouched anonymous memory is populated on the device, reading zeros
    @Test
    void migrate_populates_holes_with_zeroed_device_pages() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 4L << 20, 4L << 20)) {
            long va = f.mm.mmap(64 * PAGE, Prot.READ_WRITE);
            MigrationResult r = f.engine.migrate(f.mm, va, 64 * PAGE, f.device);
            assertThat(r.migrated()).isEqualTo(64);
            assertThat(f.engine.ram().freeFrames()).as("no RAM was used").isEqualTo(f.engine.ram().frames());
            byte[] b = new byte[64 * PAGE];
            Arrays.fill(b, (byte) 7);
            f.device.read(f.mm, va, b);
            assertThat(b).containsOnly(0);
            f.mm.read(va, b);
            assertThat(b).containsOnly(0);
        }
    }

    // hmm2.double_map: a page private to device A that device B touches goes to B through RAM, data intact
    @Test
    void migrate_to_other_owner_goes_through_ram() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 8L << 20)) {
            Device b = f.addDevice("dev1", MemoryType.DEVICE_PRIVATE, 8L << 20);
            long va = f.mm.mmap(16 * PAGE, Prot.READ_WRITE);
            f.fillInts(va, 16 * PAGE, 5);
            f.engine.migrate(f.mm, va, 16 * PAGE, f.device);
            MigrationResult r = f.engine.migrate(f.mm, va, 16 * PAGE, b);
            assertThat(r.migrated()).isEqualTo(16);
            assertThat(f.mm.page(va).isOn(b.node())).isTrue();
            assertThat(f.engine.stats().pagesToRam()).isEqualTo(16);
            assertThat(f.engine.stats().pagesToDevice()).isEqualTo(32);
            byte[] mirror = new byte[16 * PAGE];
            b.read(f.mm, va, mirror);
            Fixture.assertInts(mirror, 5);
            assertThat(f.device.freeFrames()).isEqualTo(f.device.node().frames());
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // ------------------------------------------------------------------ one test per reason

    @Test
    void reason_not_present_for_an_address_without_vma_and_a_hole_going_to_ram() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 4L << 20, 4L << 20)) {
            long va = f.mm.mmap(4 * PAGE, Prot.READ_WRITE);
            f.mm.munmap(va + PAGE, PAGE); // a gap in the middle, as in hmm2.migrate_mixed
            MigrationResult r = f.engine.migrate(f.mm, va, 4 * PAGE, f.device);
            assertThat(r.result(1)).isEqualTo(MigrateResult.NOT_PRESENT);
            assertThat(r.count(MigrateResult.MIGRATED)).isEqualTo(3);
            long hole = f.mm.mmap(PAGE, Prot.READ_WRITE);
            assertThat(f.engine.migrateToRam(f.mm, hole, PAGE).result(0)).isEqualTo(MigrateResult.NOT_PRESENT);
            assertThat(f.engine.stats().results(MigrateResult.NOT_PRESENT)).isEqualTo(2);
        }
    }

    @Test
    void reason_pinned() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 4L << 20, 4L << 20)) {
            long va = f.mm.mmap(4 * PAGE, Prot.READ_WRITE);
            f.fillInts(va, 4 * PAGE, 0);
            try (PinnedRange pin = f.mm.pin(va + 2 * PAGE, PAGE)) {
                MigrationResult r = f.engine.migrate(f.mm, va, 4 * PAGE, f.device);
                assertThat(r.result(2)).isEqualTo(MigrateResult.PINNED);
                assertThat(r.migrated()).isEqualTo(3);
                assertThat(f.mm.page(va + 2 * PAGE).memoryType()).isEqualTo(MemoryType.SYSTEM_RAM);
                assertThatThrownBy(() -> f.mm.munmap(va, 4 * PAGE)).hasMessageContaining("pinned");
            }
            assertThat(f.engine.migrate(f.mm, va, 4 * PAGE, f.device).result(2)).isEqualTo(MigrateResult.MIGRATED);
            assertThat(f.engine.stats().migrationFailures()).containsEntry("pinned", 1L);
        }
    }

    @Test
    void reason_other_owner_when_collecting_another_devices_pages() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 4L << 20, 4L << 20)) {
            Device b = f.addDevice("dev1", MemoryType.DEVICE_PRIVATE, 4L << 20);
            long va = f.mm.mmap(2 * PAGE, Prot.READ_WRITE);
            f.fillInts(va, 2 * PAGE, 0);
            f.engine.migrate(f.mm, va, 2 * PAGE, b);
            // device 0 asks for its own private pages only (MIGRATE_VMA_SELECT_DEVICE_PRIVATE with its owner)
            MigrateVma mv = new MigrateVma(f.engine, 2);
            mv.setup(f.mm, va, va + 2 * PAGE, MigrateVma.SELECT_DEVICE_PRIVATE, f.device.owner(), f.engine.ram());
            assertThat(mv.cpages()).isZero();
            mv.pages();
            mv.finalizeMigration();
            assertThat(mv.result(0)).isEqualTo(MigrateResult.OTHER_OWNER);
            assertThat(mv.result(1)).isEqualTo(MigrateResult.OTHER_OWNER);
            assertThat(f.mm.page(va).isOn(b.node())).isTrue();
        }
    }

    @Test
    void reason_already_on_target() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 4L << 20, 4L << 20)) {
            long va = f.mm.mmap(8 * PAGE, Prot.READ_WRITE);
            f.fillInts(va, 8 * PAGE, 0);
            f.engine.migrate(f.mm, va, 8 * PAGE, f.device);
            MigrationResult again = f.engine.migrate(f.mm, va, 8 * PAGE, f.device);
            assertThat(again.count(MigrateResult.ALREADY_ON_TARGET)).isEqualTo(8);
            f.engine.migrateToRam(f.mm, va, 8 * PAGE);
            assertThat(f.engine.migrateToRam(f.mm, va, 8 * PAGE).count(MigrateResult.ALREADY_ON_TARGET)).isEqualTo(8);
        }
    }

    @Test
    void reason_busy_when_another_migration_holds_the_page() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 4L << 20, 4L << 20)) {
            long va = f.mm.mmap(2 * PAGE, Prot.READ_WRITE);
            f.fillInts(va, 2 * PAGE, 0);
            MigrateVma first = new MigrateVma(f.engine, 1);
            first.setup(f.mm, va, va + PAGE, MigrateVma.SELECT_SYSTEM, f.device.owner(), f.device.node());
            assertThat(f.mm.page(va).kind()).isEqualTo(PageInfo.Kind.MIGRATION);
            MigrationResult r = f.engine.migrate(f.mm, va, 2 * PAGE, f.device);
            assertThat(r.result(0)).isEqualTo(MigrateResult.BUSY);
            assertThat(r.result(1)).isEqualTo(MigrateResult.MIGRATED);
            first.finalizeMigration(); // no destination was given: the page is restored
            assertThat(first.result(0)).isEqualTo(MigrateResult.OUT_OF_DEVICE_MEMORY);
            assertThat(f.mm.page(va).memoryType()).isEqualTo(MemoryType.SYSTEM_RAM);
            byte[] b = new byte[2 * PAGE];
            f.mm.read(va, b);
            Fixture.assertInts(b, 0);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    @Test
    void reason_out_of_device_memory() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 4L << 20, 4L * PAGE)) {
            long va = f.mm.mmap(8 * PAGE, Prot.READ_WRITE);
            f.fillInts(va, 8 * PAGE, 0);
            MigrationResult r = f.engine.migrate(f.mm, va, 8 * PAGE, f.device);
            assertThat(r.migrated()).isEqualTo(4);
            assertThat(r.count(MigrateResult.OUT_OF_DEVICE_MEMORY)).isEqualTo(4);
            byte[] b = new byte[8 * PAGE];
            f.mm.read(va, b);
            Fixture.assertInts(b, 0);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    @Test
    void reason_out_of_ram() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L * PAGE, 8L * PAGE)) {
            long a = f.mm.mmap(8 * PAGE, Prot.READ_WRITE);
            f.fillInts(a, 8 * PAGE, 0); // RAM full
            f.engine.migrate(f.mm, a, 8 * PAGE, f.device); // RAM empty again
            long b = f.mm.mmap(6 * PAGE, Prot.READ_WRITE);
            f.fillInts(b, 6 * PAGE, 0); // 2 RAM frames left
            MigrationResult r = f.engine.migrateToRam(f.mm, a, 8 * PAGE);
            assertThat(r.migrated()).isEqualTo(2);
            assertThat(r.count(MigrateResult.OUT_OF_RAM)).isEqualTo(6);
            assertThatThrownBy(() -> f.mm.read(a + 7L * PAGE, new byte[4])).isInstanceOf(OutOfFramesException.class);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // a copy that fails in the middle of a batch rolls back exactly the failed pages; the others complete
    @ParameterizedTest
    @EnumSource(value = MemoryType.class, names = {"DEVICE_PRIVATE", "DEVICE_COHERENT"})
    void reason_copy_failed_mid_batch_rolls_back_exactly_the_failed_pages(MemoryType type) {
        try (Fixture f = new Fixture(EngineConfig.of(8L << 20), type, 8L << 20, 2)) {
            long va = f.mm.mmap(SIZE, Prot.READ_WRITE);
            f.fillInts(va, (int) SIZE, 3);
            // fail batch slots 100 and 511 (the last) of each 512-page batch: pages 100, 511, 612 and 1023
            f.driver.failWith((seq, i, s, d) -> i == 100 || i == 511);
            MigrationResult r = f.engine.migrate(f.mm, va, SIZE, f.device);
            f.driver.failWith(CopyFaultInjector.NONE);
            java.util.Set<Integer> failed = java.util.Set.of(100, 511, 612, 1023);
            assertThat(r.count(MigrateResult.COPY_FAILED)).isEqualTo(4);
            assertThat(r.migrated()).isEqualTo(NPAGES - 4);
            for (int i = 0; i < NPAGES; i++) {
                assertThat(r.result(i)).as("page " + i)
                        .isEqualTo(failed.contains(i) ? MigrateResult.COPY_FAILED : MigrateResult.MIGRATED);
                assertThat(f.mm.page(va + (long) i * PAGE).memoryType()).as("page " + i)
                        .isEqualTo(failed.contains(i) ? MemoryType.SYSTEM_RAM : type);
            }
            assertThat(f.engine.stats().migrationFailures()).containsEntry("copyFailed", 4L);
            byte[] b = new byte[(int) SIZE];
            f.device.read(f.mm, va, b); // the failed pages now migrate on fault
            Fixture.assertInts(b, 3);
            f.mm.read(va, b);
            Fixture.assertInts(b, 3);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    @Test
    void reason_unmovable_for_persistent_memory() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 4L << 20, 4L << 20)) {
            Device pmem = f.addDevice("pmem0", MemoryType.DEVICE_PERSISTENT, 1L << 20);
            long va = f.mm.mmapDax(pmem, 0, 4 * PAGE, Prot.READ_WRITE);
            f.fillInts(va, 4 * PAGE, 9);
            assertThat(f.mm.page(va).memoryType()).isEqualTo(MemoryType.DEVICE_PERSISTENT);
            MigrationResult r = f.engine.migrate(f.mm, va, 4 * PAGE, f.device);
            assertThat(r.count(MigrateResult.UNMOVABLE)).isEqualTo(4);
            assertThat(f.engine.migrateToRam(f.mm, va, 4 * PAGE).count(MigrateResult.UNMOVABLE)).isEqualTo(4);
            assertThatThrownBy(() -> f.engine.migrate(f.mm, va, PAGE, pmem))
                    .hasMessageContaining("not a migration target");
            byte[] b = new byte[4 * PAGE];
            long remote = f.engine.stats().remoteAccesses();
            f.device.read(f.mm, va, b); // the device reaches it over the link
            Fixture.assertInts(b, 9);
            assertThat(f.engine.stats().remoteAccesses()).isEqualTo(remote + 4);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    @Test
    void reason_not_selected_when_the_mask_excludes_system_memory() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 4L << 20, 4L << 20)) {
            long va = f.mm.mmap(PAGE, Prot.READ_WRITE);
            f.fillInts(va, PAGE, 0);
            MigrateVma mv = new MigrateVma(f.engine, 1);
            mv.setup(f.mm, va, va + PAGE, MigrateVma.SELECT_DEVICE_PRIVATE, f.device.owner(), f.device.node());
            mv.pages();
            mv.finalizeMigration();
            assertThat(mv.result(0)).isEqualTo(MigrateResult.NOT_SELECTED);
        }
    }

    @Test
    void batches_are_copied_in_one_call_each() {
        EngineConfig c = EngineConfig.of(16L << 20).withMigrateBatchPages(256);
        try (Fixture f = new Fixture(c, MemoryType.DEVICE_PRIVATE, 8L << 20, 1)) {
            long va = f.mm.mmap(SIZE, Prot.READ_WRITE);
            f.fillInts(va, (int) SIZE, 0);
            f.engine.migrate(f.mm, va, SIZE, f.device);
            assertThat(f.engine.stats().copyBatches()).isEqualTo(NPAGES / 256);
            assertThat(f.engine.stats().registry().get("hmm.migrate.batch.pages").summary().max()).isEqualTo(256);
        }
    }
}
