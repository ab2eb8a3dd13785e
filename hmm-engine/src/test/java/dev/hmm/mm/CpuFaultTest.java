package dev.hmm.mm;

import static dev.hmm.mm.Fixture.PAGE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The CPU fault path: first touch, device-private faults, migration-entry waits, protections (hmm-tests names). */
class CpuFaultTest {

    // anon_read after a device write: the CPU reads what the device last wrote, through migrate_to_ram
    @Test
    void cpu_read_of_device_private_page_returns_what_the_device_wrote() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 4L << 20, 4L << 20)) {
            long va = f.mm.mmap(4 * PAGE, Prot.READ_WRITE);
            byte[] data = new byte[4 * PAGE - 10];
            for (int i = 0; i < data.length; i++) {
                data[i] = (byte) (i * 31 + 7);
            }
            f.device.write(f.mm, va + 5, data); // device faults: holes populated on the device
            assertThat(f.mm.page(va).kind()).isEqualTo(PageInfo.Kind.DEVICE_PRIVATE);
            assertThat(f.engine.stats().deviceFaults()).isEqualTo(4);
            byte[] back = new byte[data.length];
            f.mm.read(va + 5, back);
            assertThat(back).isEqualTo(data);
            assertThat(f.engine.stats().cpuDevicePrivateFaults()).isEqualTo(4);
            assertThat(f.engine.stats().pagesToRam()).isEqualTo(4);
            assertThat(f.mm.page(va).memoryType()).isEqualTo(MemoryType.SYSTEM_RAM);
            assertThat(f.device.pagesFreed()).as("pageFree called for each device frame").isEqualTo(4);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // concurrent CPU faults on one device-private page migrate it once
    @Test
    void concurrent_cpu_faults_on_one_page_migrate_it_once() throws Exception {
        int threads = 8;
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 4L << 20, 4L << 20)) {
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                for (int round = 0; round < 20; round++) {
                    long va = f.mm.mmap(PAGE, Prot.READ_WRITE);
                    f.fillInts(va, PAGE, round);
                    f.engine.migrate(f.mm, va, PAGE, f.device);
                    long before = f.engine.stats().pagesToRam();
                    CyclicBarrier start = new CyclicBarrier(threads);
                    List<Future<byte[]>> reads = new ArrayList<>();
                    for (int t = 0; t < threads; t++) {
                        reads.add(pool.submit(() -> {
                            start.await();
                            byte[] b = new byte[PAGE];
                            f.mm.read(va, b);
                            return b;
                        }));
                    }
                    for (Future<byte[]> r : reads) {
                        Fixture.assertInts(r.get(10, TimeUnit.SECONDS), round);
                    }
                    assertThat(f.engine.stats().pagesToRam() - before).as("round " + round).isEqualTo(1);
                }
                assertThat(f.engine.check()).isEmpty();
            } finally {
                pool.shutdownNow();
            }
        }
    }

    // a touch of a page under migration sleeps until finalize, then sees the final page (reads and writes)
    @Test
    void access_to_a_page_under_migration_waits_for_finalize() throws Exception {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 4L << 20, 4L << 20)) {
            long va = f.mm.mmap(PAGE, Prot.READ_WRITE);
            f.fillInts(va, PAGE, 1);
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
                Future<MigrationResult> migration = pool.submit(() -> f.engine.migrate(f.mm, va, PAGE, f.device));
                assertThat(inCopy.await(10, TimeUnit.SECONDS)).isTrue();
                assertThat(f.mm.page(va).kind()).isEqualTo(PageInfo.Kind.MIGRATION);
                Future<?> writer = pool.submit(() -> f.mm.write(va + 8, new byte[] {42, 43}));
                Thread.sleep(200);
                assertThat(writer.isDone()).as("the writer sleeps on the migration entry").isFalse();
                release.countDown();
                assertThat(migration.get(10, TimeUnit.SECONDS).migrated()).isEqualTo(1);
                writer.get(10, TimeUnit.SECONDS);
                assertThat(f.engine.stats().migrationWaits()).isGreaterThanOrEqualTo(1);
                byte[] b = new byte[PAGE];
                f.mm.read(va, b);
                assertThat(b[8]).isEqualTo((byte) 42);
                assertThat(b[9]).isEqualTo((byte) 43);
                b[8] = 3; // restore int 2 (= 2 + bias 1, little endian 03 00 00 00) for the check below
                b[9] = 0;
                Fixture.assertInts(b, 1);
            } finally {
                f.driver.failWith(CopyFaultInjector.NONE);
                pool.shutdownNow();
            }
        }
    }

    // anon_read_prot / anon_write_prot: protections are enforced for the CPU and the device
    @Test
    void protections_fault_with_a_segmentation_fault() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 4L << 20, 4L << 20)) {
            long none = f.mm.mmap(PAGE, Prot.NONE);
            assertThatThrownBy(() -> f.mm.read(none, new byte[1])).isInstanceOf(SegmentationFaultException.class)
                    .hasMessageContaining("segmentation fault at 0x" + Long.toHexString(none));
            assertThatThrownBy(() -> f.device.read(f.mm, none, new byte[1]))
                    .isInstanceOf(SegmentationFaultException.class);
            long ro = f.mm.mmap(PAGE, Prot.READ);
            assertThat(f.mm.readByte(ro)).isZero();
            assertThatThrownBy(() -> f.mm.writeByte(ro, (byte) 1)).isInstanceOf(SegmentationFaultException.class);
            assertThatThrownBy(() -> f.device.write(f.mm, ro, new byte[1]))
                    .isInstanceOf(SegmentationFaultException.class);
            f.mm.mprotect(ro, PAGE, Prot.READ_WRITE);
            f.mm.writeByte(ro, (byte) 5);
            assertThat(f.mm.readByte(ro)).isEqualTo((byte) 5);
            assertThat(f.engine.stats().cpuWriteProtectFaults()).isEqualTo(1);
            assertThatThrownBy(() -> f.mm.read(0x1000, new byte[1])).hasMessageContaining("no mapping");
        }
    }

    // exclusive_mprotect-like: a write-protect downgrade of device-resident pages stops device writes
    @Test
    void mprotect_downgrade_reaches_device_private_entries() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 4L << 20, 4L << 20)) {
            long va = f.mm.mmap(2 * PAGE, Prot.READ_WRITE);
            f.device.write(f.mm, va, new byte[2 * PAGE]);
            f.mm.mprotect(va, 2 * PAGE, Prot.READ);
            assertThat(f.mm.page(va).writable()).isFalse();
            assertThatThrownBy(() -> f.device.write(f.mm, va, new byte[1]))
                    .isInstanceOf(SegmentationFaultException.class);
            f.device.read(f.mm, va, new byte[2 * PAGE]);
            f.mm.mprotect(va, 2 * PAGE, Prot.NONE);
            assertThatThrownBy(() -> f.device.read(f.mm, va, new byte[1]))
                    .isInstanceOf(SegmentationFaultException.class);
            assertThatThrownBy(() -> f.mm.read(va, new byte[1])).isInstanceOf(SegmentationFaultException.class);
            assertThat(f.mm.page(va).kind()).as("PROT_NONE keeps the page where it is")
                    .isEqualTo(PageInfo.Kind.DEVICE_PRIVATE);
            f.mm.mprotect(va, 2 * PAGE, Prot.READ_WRITE);
            f.device.write(f.mm, va, new byte[] {1});
            assertThat(f.mm.readByte(va)).isEqualTo((byte) 1);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // device-coherent memory is read and written by the CPU in place: no fault, no migration
    @Test
    void coherent_pages_are_accessed_in_place() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_COHERENT, 4L << 20, 4L << 20)) {
            long va = f.mm.mmap(8 * PAGE, Prot.READ_WRITE);
            f.device.write(f.mm, va, new byte[8 * PAGE]);
            long faults = f.engine.stats().cpuFaults();
            f.fillInts(va, 8 * PAGE, 4);
            byte[] b = new byte[8 * PAGE];
            f.device.read(f.mm, va, b);
            Fixture.assertInts(b, 4);
            assertThat(f.engine.stats().cpuFaults()).isEqualTo(faults);
            assertThat(f.engine.stats().pagesToRam()).isZero();
            assertThat(f.mm.page(va).memoryType()).isEqualTo(MemoryType.DEVICE_COHERENT);
        }
    }

    // munmap of device-resident memory frees the device frames; later touches fault
    @ParameterizedTest
    @EnumSource(value = MemoryType.class, names = {"DEVICE_PRIVATE", "DEVICE_COHERENT"})
    void munmap_frees_device_frames(MemoryType type) {
        try (Fixture f = new Fixture(type, 4L << 20, 4L << 20)) {
            long va = f.mm.mmap(16 * PAGE, Prot.READ_WRITE);
            f.device.write(f.mm, va, new byte[16 * PAGE]);
            assertThat(f.device.freeFrames()).isEqualTo(f.device.node().frames() - 16);
            f.mm.munmap(va + 4 * PAGE, 8 * PAGE);
            assertThat(f.device.freeFrames()).isEqualTo(f.device.node().frames() - 8);
            assertThatThrownBy(() -> f.mm.read(va + 4 * PAGE, new byte[1])).isInstanceOf(SegmentationFaultException.class);
            f.mm.read(va, new byte[4 * PAGE]);
            f.mm.read(va + 12 * PAGE, new byte[4 * PAGE]);
            assertThat(f.engine.check()).isEmpty();
            f.mm.close();
            assertThat(f.device.freeFrames()).isEqualTo(f.device.node().frames());
            assertThat(f.engine.ram().freeFrames()).isEqualTo(f.engine.ram().frames());
        }
    }

    // munmap gathers frames in bounded batches (mmu_gather): more pages than one batch, RAM and device, all freed
    @Test
    void munmap_larger_than_one_gather_frees_every_frame() {
        int pages = 40_000; // > 2 gathers of 16384
        try (Fixture f = new Fixture(EngineConfig.of((long) pages * PAGE).withDataPlane(DataPlane.METADATA),
                MemoryType.DEVICE_PRIVATE, 8L << 20, 1)) {
            long va = f.mm.mmap((long) pages * PAGE, Prot.READ_WRITE);
            f.mm.touch(va, (long) pages * PAGE, AccessType.WRITE);
            f.engine.migrate(f.mm, va + 100L * PAGE, 1000L * PAGE, f.device);
            assertThat(f.engine.ram().freeFrames()).isEqualTo(f.engine.ram().frames() - pages + 1000);
            f.mm.munmap(va, (long) pages * PAGE);
            assertThat(f.engine.ram().freeFrames()).isEqualTo(f.engine.ram().frames());
            assertThat(f.device.freeFrames()).isEqualTo(f.device.node().frames());
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // pin (GUP FOLL_LONGTERM) faults device pages back to RAM first
    @ParameterizedTest
    @EnumSource(value = MemoryType.class, names = {"DEVICE_PRIVATE", "DEVICE_COHERENT"})
    void pin_brings_device_pages_to_ram(MemoryType type) {
        try (Fixture f = new Fixture(type, 4L << 20, 4L << 20)) {
            long va = f.mm.mmap(4 * PAGE, Prot.READ_WRITE);
            f.fillInts(va, 4 * PAGE, 0);
            f.engine.migrate(f.mm, va, 4 * PAGE, f.device);
            try (PinnedRange p = f.mm.pin(va, 4 * PAGE)) {
                for (int i = 0; i < 4; i++) {
                    assertThat(f.mm.page(va + (long) i * PAGE).memoryType()).isEqualTo(MemoryType.SYSTEM_RAM);
                    assertThat(f.engine.ram().pins(Pfn.index(p.pfn(i)))).isEqualTo(1);
                }
            }
            byte[] b = new byte[4 * PAGE];
            f.mm.read(va, b);
            Fixture.assertInts(b, 0);
        }
    }
}
