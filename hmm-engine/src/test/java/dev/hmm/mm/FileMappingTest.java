package dev.hmm.mm;

import static dev.hmm.mm.Fixture.PAGE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** File-backed mappings: page cache, device residency, dirty tracking, writeback, truncation, private copies. */
class FileMappingTest {

    static Path intsFile(Path dir, String name, int bytes, int bias) throws IOException {
        byte[] b = new byte[bytes];
        MemorySegment s = MemorySegment.ofArray(b);
        for (int i = 0; i < bytes / 4; i++) {
            s.set(ValueLayout.JAVA_INT_UNALIGNED, 4L * i, i + bias);
        }
        Path p = dir.resolve(name);
        Files.write(p, b);
        return p;
    }

    // hmm.file_read: a shared read-only file mapping read by the device
    @Test
    void file_read(@TempDir Path dir) throws Exception {
        Path p = intsFile(dir, "f", 64 * PAGE, 0);
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 4L << 20)) {
            MappedFile file = f.engine.openFile(p, false);
            long va = f.mm.mmapFile(file, 0, 64 * PAGE, Prot.READ, true);
            byte[] b = new byte[64 * PAGE];
            f.device.read(f.mm, va, b);
            Fixture.assertInts(b, 0);
            assertThat(f.engine.stats().fileReadPages()).isEqualTo(64);
            assertThat(f.mm.page(va).isOn(f.device.node())).as("file pages migrate to device memory").isTrue();
            f.mm.read(va, b); // back to RAM on CPU touch
            Fixture.assertInts(b, 0);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // hmm.file_write + the round trip: write through a device, sync, open the file in a fresh engine
    @ParameterizedTest
    @EnumSource(value = MemoryType.class, names = {"DEVICE_PRIVATE", "DEVICE_COHERENT"})
    void write_through_a_device_sync_and_read_it_in_a_fresh_engine(MemoryType type, @TempDir Path dir)
            throws Exception {
        Path p = intsFile(dir, "f", 32 * PAGE, 0);
        try (Fixture f = new Fixture(type, 8L << 20, 4L << 20)) {
            MappedFile file = f.engine.openFile(p, true);
            long va = f.mm.mmapFile(file, 0, 32 * PAGE, Prot.READ_WRITE, true);
            assertThat(f.engine.migrate(f.mm, va, 32 * PAGE, f.device).count(MigrateResult.NOT_PRESENT))
                    .as("file holes are not populated by a migration").isEqualTo(32);
            byte[] b = new byte[32 * PAGE];
            f.device.read(f.mm, va, b); // faults them in, onto the device
            MemorySegment s = MemorySegment.ofArray(b);
            for (int i = 0; i < b.length / 4; i++) {
                s.set(ValueLayout.JAVA_INT_UNALIGNED, 4L * i, i + 100);
            }
            f.device.write(f.mm, va, b);
            assertThat(f.mm.page(va).isOn(f.device.node())).isTrue();
            assertThat(file.dirtyPages()).isEqualTo(32);
            assertThat(f.mm.msync(va, 32 * PAGE)).isEqualTo(32);
            assertThat(file.dirtyPages()).isZero();
            assertThat(f.engine.stats().writebackPages()).isEqualTo(32);
            assertThat(f.engine.check()).isEmpty();
        }
        Fixture.assertInts(Files.readAllBytes(p), 100);
        try (Fixture g = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 4L << 20)) {
            MappedFile file = g.engine.openFile(p, false);
            long va = g.mm.mmapFile(file, 0, 32 * PAGE, Prot.READ, true);
            byte[] b = new byte[32 * PAGE];
            g.mm.read(va, b);
            Fixture.assertInts(b, 100);
        }
    }

    // a write marks the page dirty wherever it lives; a clean page is written by no one
    @Test
    void only_written_pages_are_dirty_and_unmap_writes_them_back(@TempDir Path dir) throws Exception {
        Path p = intsFile(dir, "f", 16 * PAGE, 0);
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 4L << 20)) {
            MappedFile file = f.engine.openFile(p, true);
            long va = f.mm.mmapFile(file, 0, 16 * PAGE, Prot.READ_WRITE, true);
            f.mm.read(va, new byte[16 * PAGE]);
            assertThat(file.dirtyPages()).isZero();
            assertThat(f.mm.page(va).writable()).as("clean shared pages are mapped read-only").isFalse();
            f.mm.writeByte(va + 3 * PAGE, (byte) 1); // CPU write, page in RAM
            f.device.write(f.mm, va + 5 * PAGE, new byte[] {2}); // device write, page on the device
            f.engine.migrate(f.mm, va + 3 * PAGE, PAGE, f.device); // the dirty page moves: still dirty
            assertThat(file.dirtyPages()).isEqualTo(2);
            f.mm.munmap(va, 16 * PAGE); // writeback on unmap
            assertThat(file.dirtyPages()).isZero();
            assertThat(f.engine.stats().writebackPages()).isEqualTo(2);
            byte[] disk = Files.readAllBytes(p);
            assertThat(disk[3 * PAGE]).isEqualTo((byte) 1);
            assertThat(disk[5 * PAGE]).isEqualTo((byte) 2);
            assertThat(f.engine.check()).isEmpty();
            file.close();
        }
    }

    // hmm.migrate_file_private: a MAP_PRIVATE file mapping, CPU-written, migrates; the file never changes
    @Test
    void migrate_file_private_and_private_mappings_never_change_the_file(@TempDir Path dir) throws Exception {
        Path p = intsFile(dir, "f", 32 * PAGE, 7);
        byte[] before = Files.readAllBytes(p);
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 4L << 20)) {
            MappedFile file = f.engine.openFile(p, true);
            long va = f.mm.mmapFile(file, 0, 32 * PAGE, Prot.READ_WRITE, false);
            f.fillInts(va, 16 * PAGE, 0); // first half: private copies
            MigrationResult r = f.engine.migrate(f.mm, va, 32 * PAGE, f.device);
            assertThat(r.migrated()).isEqualTo(16);
            byte[] b = new byte[32 * PAGE];
            f.device.read(f.mm, va, b);
            Fixture.assertInts(java.util.Arrays.copyOf(b, 16 * PAGE), 0);
            Fixture.assertIntsAt(java.util.Arrays.copyOfRange(b, 16 * PAGE, 32 * PAGE), 16 * PAGE / 4, 7);
            f.device.write(f.mm, va + 20L * PAGE, new byte[] {9}); // a device write to an unwritten page copies it too
            assertThat(f.engine.stats().cpuCowFaults()).isEqualTo(17);
            assertThat(f.mm.msync(va, 32 * PAGE)).isZero();
            f.mm.munmap(va, 32 * PAGE);
            file.close();
            assertThat(f.engine.check()).isEmpty();
        }
        assertThat(Files.readAllBytes(p)).isEqualTo(before);
    }

    // truncate: pages on a device are invalidated everywhere; touches beyond the end are the engine's SIGBUS
    @Test
    void truncate_invalidates_device_pages_and_later_touches_get_sigbus(@TempDir Path dir) throws Exception {
        Path p = intsFile(dir, "f", 32 * PAGE, 0);
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 4L << 20)) {
            MappedFile file = f.engine.openFile(p, true);
            long va = f.mm.mmapFile(file, 0, 32 * PAGE, Prot.READ_WRITE, true);
            f.device.write(f.mm, va, new byte[32 * PAGE]);
            long freeBefore = f.device.freeFrames();
            file.truncate(10L * PAGE + 100);
            assertThat(f.device.freeFrames()).isEqualTo(freeBefore + 21);
            assertThat(f.engine.stats().truncatedPages()).isEqualTo(21);
            assertThat(Files.size(p)).isEqualTo(10L * PAGE + 100);
            assertThatThrownBy(() -> f.mm.read(va + 12L * PAGE, new byte[1])).isInstanceOf(BusErrorException.class)
                    .hasMessageContaining("beyond the end");
            assertThatThrownBy(() -> f.device.read(f.mm, va + 20L * PAGE, new byte[1]))
                    .isInstanceOf(BusErrorException.class);
            byte[] tail = new byte[PAGE];
            f.mm.read(va + 10L * PAGE, tail); // the partial last page: its tail reads as zeros
            assertThat(java.util.Arrays.copyOfRange(tail, 100, PAGE)).containsOnly(0);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // truncate during a migration: it waits for the page locked by the migration, then removes it
    @Test
    void truncate_during_a_migration(@TempDir Path dir) throws Exception {
        Path p = intsFile(dir, "f", 8 * PAGE, 0);
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 4L << 20)) {
            MappedFile file = f.engine.openFile(p, true);
            long va = f.mm.mmapFile(file, 0, 8 * PAGE, Prot.READ_WRITE, true);
            f.mm.read(va, new byte[8 * PAGE]);
            CountDownLatch inCopy = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            f.driver.failWith((seq, i, s, d) -> {
                inCopy.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return false;
            });
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try {
                Future<MigrationResult> mig = pool.submit(() -> f.engine.migrate(f.mm, va, 8 * PAGE, f.device));
                assertThat(inCopy.await(10, TimeUnit.SECONDS)).isTrue();
                Future<?> trunc = pool.submit(() -> {
                    file.truncate(2L * PAGE);
                    return null;
                });
                Thread.sleep(200);
                assertThat(trunc.isDone()).as("truncate waits for the locked pages").isFalse();
                release.countDown();
                assertThat(mig.get(10, TimeUnit.SECONDS).migrated()).isEqualTo(8);
                trunc.get(10, TimeUnit.SECONDS);
            } finally {
                f.driver.failWith(CopyFaultInjector.NONE);
                pool.shutdownNow();
            }
            assertThat(f.device.freeFrames()).isEqualTo(f.device.node().frames() - 2);
            assertThatThrownBy(() -> f.mm.read(va + 3L * PAGE, new byte[1])).isInstanceOf(BusErrorException.class);
            byte[] b = new byte[2 * PAGE];
            f.mm.read(va, b);
            Fixture.assertInts(b, 0);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // RAM pressure: clean page-cache pages are dropped (and read again later)
    @Test
    void clean_page_cache_pages_are_dropped_under_memory_pressure(@TempDir Path dir) throws Exception {
        Path p = intsFile(dir, "f", 64 * PAGE, 0);
        try (Fixture f = new Fixture(EngineConfig.of(24L * PAGE), MemoryType.DEVICE_PRIVATE, 1L << 20, 1)) {
            MappedFile file = f.engine.openFile(p, true);
            long va = f.mm.mmapFile(file, 0, 64 * PAGE, Prot.READ_WRITE, true);
            byte[] b = new byte[PAGE];
            for (int round = 0; round < 2; round++) {
                for (int pg = 0; pg < 64; pg++) {
                    f.mm.read(va + (long) pg * PAGE, b);
                    Fixture.assertIntsAt(b, pg * PAGE / 4, 0);
                }
            }
            f.mm.writeByte(va, (byte) 5); // a dirty page is written back before it is dropped
            for (int pg = 1; pg < 64; pg++) {
                f.mm.read(va + (long) pg * PAGE, b);
            }
            assertThat(f.engine.stats().droppedCleanPages()).isPositive();
            assertThat(f.engine.stats().fileReadPages()).isGreaterThan(64);
            assertThat(f.mm.readByte(va)).isEqualTo((byte) 5);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // MAP_PRIVATE in RAM that holds only the private copies: the page cache behind them is reclaimed as they are made
    @Test
    void private_copies_reclaim_the_page_cache_behind_them(@TempDir Path dir) throws Exception {
        Path p = intsFile(dir, "f", 64 * PAGE, 0);
        try (Fixture f = new Fixture(EngineConfig.of(66L * PAGE), MemoryType.DEVICE_PRIVATE, 1L << 20, 1)) {
            MappedFile file = f.engine.openFile(p, false);
            long va = f.mm.mmapFile(file, 0, 64 * PAGE, Prot.READ_WRITE, false);
            for (int round = 0; round < 2; round++) {
                for (int pg = 0; pg < 64; pg++) {
                    f.mm.writeByte(va + (long) pg * PAGE + 8, (byte) (round + 1));
                }
            }
            byte[] b = new byte[PAGE];
            for (int pg = 0; pg < 64; pg++) {
                f.mm.read(va + (long) pg * PAGE, b);
                assertThat(b[8]).isEqualTo((byte) 2);
                assertThat(MemorySegment.ofArray(b).get(ValueLayout.JAVA_INT_UNALIGNED, 4)).isEqualTo(pg * PAGE / 4 + 1);
            }
            assertThat(f.engine.stats().droppedCleanPages()).isPositive();
            assertThat(f.engine.check()).isEmpty();
        }
    }

    @Test
    void bad_input_gets_precise_exceptions(@TempDir Path dir) throws Exception {
        Path p = intsFile(dir, "f", 4 * PAGE, 0);
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 4L << 20)) {
            assertThatThrownBy(() -> f.engine.openFile(dir.resolve("missing"), true))
                    .isInstanceOf(NoSuchFileException.class).hasMessageContaining("missing");
            MappedFile ro = f.engine.openFile(p, false);
            assertThatThrownBy(() -> f.mm.mmapFile(ro, 0, 8 * PAGE, Prot.READ, true))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("beyond its end");
            assertThatThrownBy(() -> f.mm.mmapFile(ro, 0, 4 * PAGE, Prot.READ_WRITE, true))
                    .hasMessageContaining("read-only");
            assertThatThrownBy(() -> f.mm.mmapFile(ro, 100, PAGE, Prot.READ, true)).hasMessageContaining("aligned");
        }
    }

    // a file deleted behind the engine's back: its dirty pages cannot reach anyone: reported, not silent
    @Test
    void a_file_deleted_during_the_run_is_reported_at_sync(@TempDir Path dir) throws Exception {
        Path p = intsFile(dir, "f", 4 * PAGE, 0);
        Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 4L << 20);
        MappedFile file = f.engine.openFile(p, true);
        long va = f.mm.mmapFile(file, 0, 4 * PAGE, Prot.READ_WRITE, true);
        f.mm.writeByte(va, (byte) 1);
        Files.delete(p);
        assertThatThrownBy(file::sync).isInstanceOf(IOException.class).hasMessageContaining("deleted");
        // and the engine's teardown says so again rather than closing quietly
        assertThatThrownBy(f::close).hasMessageContaining("engine close")
                .satisfies(e -> assertThat(e.getSuppressed().length + 1).isGreaterThanOrEqualTo(1));
    }

    // the shadow-copy stress over a shared file mapping, then every byte is in the file after sync
    @ParameterizedTest
    @EnumSource(value = MemoryType.class, names = {"DEVICE_PRIVATE", "DEVICE_COHERENT"})
    void stress_over_a_shared_file_mapping_and_the_file_holds_the_result(MemoryType type, @TempDir Path dir)
            throws Exception {
        Path p = dir.resolve("zeros");
        Files.write(p, new byte[256 * PAGE]);
        try (Fixture f = new Fixture(EngineConfig.of(8L << 20).withMigrateBatchPages(16), type, 4L << 20, 2)) {
            Device b = f.addDevice("dev1", MemoryType.DEVICE_PRIVATE, 1L << 20);
            MappedFile file = f.engine.openFile(p, true);
            long len = 256L * PAGE;
            long va = f.mm.mmapFile(file, 0, len, Prot.READ_WRITE, true);
            StressHarness.Outcome out = StressHarness.run(f.engine, f.mm, va, len, List.of(f.device, b),
                    StressHarness.Options.defaults().withThreads(2, 3, 2).withOps(3_000));
            assertThat(out.clean()).as(out.toString()).isTrue();
            byte[] mem = new byte[(int) len];
            f.mm.peek(va, mem);
            f.mm.msync(va, len);
            assertThat(Files.readAllBytes(p)).isEqualTo(mem);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // Found by the file storm: the free list is LIFO, so a page-cache page dropped while migrate_vma collects it is
    // often read again as another page of the file into the same frame. Collect must not take that other page for
    // this address: finalize would map it here, where no unmapAll ever finds it.
    @Test
    void collect_does_not_take_a_frame_reused_by_another_page_of_the_file(@TempDir Path dir) throws Exception {
        Path p = intsFile(dir, "f", 4 * PAGE, 0);
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 4L << 20)) {
            MappedFile file = f.engine.openFile(p, false);
            long va = f.mm.mmapFile(file, 0, 4 * PAGE, Prot.READ, true);
            byte[] b = new byte[PAGE];
            f.mm.read(va, b); // page 0 in a RAM frame
            long frame0 = Pte.pfn(f.mm.pte(va));
            boolean[] reused = {false};
            f.engine.hooks.beforeCollectRmap = () -> {
                f.engine.hooks.beforeCollectRmap = null;
                assertThat(file.shrink(1)).as("page 0 dropped under RAM pressure").isEqualTo(1);
                f.mm.read(va + PAGE, new byte[PAGE]); // page 1 read into the frame just freed
                reused[0] = Pte.pfn(f.mm.pte(va + PAGE)) == frame0;
            };
            MigrationResult r = f.engine.migrate(f.mm, va, PAGE, f.device);
            assertThat(reused[0]).as("the test reproduced the reuse").isTrue();
            assertThat(r.count(MigrateResult.MIGRATED)).isZero();
            assertThat(f.engine.check()).isEmpty();
            byte[] all = new byte[4 * PAGE];
            f.mm.read(va, all);
            Fixture.assertInts(all, 0);
            f.device.read(f.mm, va, all);
            Fixture.assertInts(all, 0);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // wp_page_copy notifies: a device that mirrors a private mapping's page-cache page must drop it when a CPU write
    // copies the page, or it goes on reading the file's page while the mapping's own copy has diverged
    @ParameterizedTest
    @EnumSource(value = MemoryType.class, names = {"DEVICE_PRIVATE", "DEVICE_COHERENT"})
    void copy_on_write_invalidates_devices_mirroring_the_cache_page(MemoryType type, @TempDir Path dir)
            throws Exception {
        Path p = intsFile(dir, "f", 4 * PAGE, 0);
        try (Fixture f = new Fixture(type, 8L << 20, 4L << 20)) {
            Device other = f.addDevice("dev1", MemoryType.DEVICE_COHERENT, 4L << 20);
            MappedFile file = f.engine.openFile(p, false);
            long va = f.mm.mmapFile(file, 0, 4 * PAGE, Prot.READ_WRITE, false);
            byte[] b = new byte[4 * PAGE];
            f.mm.read(va, b); // the page cache, in RAM, mapped read-only here
            other.read(f.mm, va, b); // the coherent device mirrors the cache pages (moving them or not)
            Fixture.assertInts(b, 0);
            f.mm.write(va, new byte[] {0x5A}); // copy on write: this mapping's page 0 is now its own
            byte[] one = new byte[1];
            other.read(f.mm, va, one);
            assertThat(one[0]).as("the device reads the mapping's copy, not the file's page").isEqualTo((byte) 0x5A);
            f.device.read(f.mm, va, one);
            assertThat(one[0]).isEqualTo((byte) 0x5A);
            assertThat(f.engine.check()).isEmpty();
        }
    }
}
