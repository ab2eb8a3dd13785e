package dev.hmm.mm;

import static dev.hmm.mm.Fixture.PAGE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The device fault path: fault buffer, batched servicing, mirror tables, range faults, exclusive access. */
class DeviceFaultTest {

    // anon_read: the device reads through its mirror; one fault per page, then none
    @ParameterizedTest
    @EnumSource(value = MemoryType.class, names = {"DEVICE_PRIVATE", "DEVICE_COHERENT"})
    void anon_read_faults_once_per_page_then_hits_the_mirror(MemoryType type) {
        try (Fixture f = new Fixture(type, 8L << 20, 8L << 20)) {
            long va = f.mm.mmap(256 * PAGE, Prot.READ_WRITE);
            f.fillInts(va, 256 * PAGE, 11);
            byte[] b = new byte[256 * PAGE];
            f.device.read(f.mm, va, b);
            Fixture.assertInts(b, 11);
            HmmStats s = f.engine.stats();
            assertThat(s.deviceFaults()).isEqualTo(256);
            assertThat(s.deviceFaults()).isEqualTo(s.servicedFaults() + s.duplicateFaults());
            long faults = s.deviceFaults();
            f.device.read(f.mm, va, b);
            assertThat(s.deviceFaults()).as("mapped pages do not fault again").isEqualTo(faults);
            assertThat(f.mm.page(va).isOn(f.device.node())).isTrue();
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // The TLB slot guards bytes: a touch (no bytes) takes none, so a flush never waits for it and the METADATA
    // plane's access path pays no fences for it; a byte-moving access registers its thread's slot.
    @Test
    void touches_take_no_tlb_slot_and_byte_accesses_do() throws Exception {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 8L << 20)) {
            long va = f.mm.mmap(16 * PAGE, Prot.READ_WRITE);
            int before = f.engine.tlb.slotCount();
            Thread toucher = Thread.ofPlatform().start(() -> {
                f.mm.touch(va, 16 * PAGE, AccessType.WRITE); // CPU first touch, then hits
                f.mm.touch(va, 16 * PAGE, AccessType.READ);
                f.device.touch(f.mm, va, 16 * PAGE, AccessType.READ); // device faults, then hits
                f.device.touch(f.mm, va, 16 * PAGE, AccessType.READ);
                f.mm.touch(va, 16 * PAGE, AccessType.READ); // back to RAM through migrateToRam
            });
            toucher.join();
            assertThat(f.engine.tlb.slotCount()).as("touches register no slot").isEqualTo(before);
            assertThat(f.mm.page(va).isOn(f.engine.ram())).isTrue();
            Thread reader = Thread.ofPlatform().start(() -> f.device.read(f.mm, va, new byte[PAGE]));
            reader.join();
            assertThat(f.engine.tlb.slotCount()).as("a device read registers its slot").isEqualTo(before + 1);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // hmm2.double_map: a page private to device A that device B touches goes to B through RAM, data intact
    // A mirror unlinks the leaves that invalidation empties (free_pgtables): a streaming pass over an oversubscribed
    // device would otherwise keep a mirror leaf for every page it ever touched.
    @Test
    void mirror_drops_leaves_that_invalidation_empties() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 16L << 20, 8L << 20)) {
            long va = f.mm.mmap(4L << 20, Prot.READ_WRITE); // two 2 MiB leaves
            f.fillInts(va, 4 << 20, 7);
            byte[] b = new byte[4 << 20];
            f.device.read(f.mm, va, b);
            DeviceMirror m = f.device.mirror(f.mm);
            assertThat(m.table.leafCount()).isEqualTo(2);
            f.engine.migrateToRam(f.mm, va, 2L << 20); // the first leaf empties
            assertThat(m.table.leafCount()).isEqualTo(1);
            f.engine.migrateToRam(f.mm, va + (2L << 20), 2L << 20);
            assertThat(m.table.leafCount()).isZero();
            f.device.read(f.mm, va, b); // faults map them again, in fresh leaves
            Fixture.assertInts(b, 7);
            assertThat(m.table.leafCount()).isEqualTo(2);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    @Test
    void a_page_private_to_another_device_comes_through_ram_on_fault() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 4L << 20)) {
            Device b = f.addDevice("dev1", MemoryType.DEVICE_PRIVATE, 4L << 20);
            long va = f.mm.mmap(32 * PAGE, Prot.READ_WRITE);
            f.fillInts(va, 32 * PAGE, 3);
            byte[] buf = new byte[32 * PAGE];
            f.device.read(f.mm, va, buf);
            assertThat(f.mm.page(va).isOn(f.device.node())).isTrue();
            b.read(f.mm, va, buf);
            Fixture.assertInts(buf, 3);
            assertThat(f.mm.page(va).isOn(b.node())).isTrue();
            assertThat(f.device.mirrorEntry(f.mm, va)).as("A's mirror dropped the page").isZero();
            f.device.read(f.mm, va, buf); // and back
            Fixture.assertInts(buf, 3);
            f.mm.read(va, buf);
            Fixture.assertInts(buf, 3);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    /** Every replay policy, with the faulting thread servicing the buffer (combining) and without. */
    /** The body of one of {@link #onThreads}' threads, given its index. */
    interface ThreadBody {
        void run(int id) throws Exception;
    }

    /** Runs {@code body} on {@code threads} pool threads and waits for all (rethrowing the first failure). */
    static void onThreads(int threads, long timeoutSeconds, ThreadBody body) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                fs.add(pool.submit(() -> {
                    body.run(id);
                    return null;
                }));
            }
            for (Future<?> x : fs) {
                x.get(timeoutSeconds, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    static Stream<Arguments> policiesAndServicing() {
        return Stream.of(ReplayPolicy.values()).flatMap(p -> Stream.of(Arguments.of(p, true), Arguments.of(p, false)));
    }

    // combining: a lone accessor's fault is serviced on its own thread; without it, on the device's servicing thread
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void a_lone_accessor_services_its_own_fault_only_when_combining(boolean combining) {
        try (HmmEngine engine = HmmEngine.create(EngineConfig.of(8L << 20))) {
            TestDriver driver = new TestDriver("lone0", MemoryType.DEVICE_PRIVATE, 4L << 20, 1);
            AtomicReference<Thread> copier = new AtomicReference<>();
            driver.failWith((seq, i, s, d) -> {
                copier.set(Thread.currentThread()); // the copy of the migration runs on the servicing thread
                return false;
            });
            Device dev = engine.attachDevice(driver,
                    FaultServiceConfig.defaults().withFaultingThreadServices(combining));
            AddressSpace mm = engine.createAddressSpace();
            long va = mm.mmap(4 * PAGE, Prot.READ_WRITE);
            mm.write(va, new byte[] {42});
            // the servicing thread spins a while after it starts, and a spinning servicer may take the role first
            awaitParked("hmm-faults-lone0");
            byte[] b = new byte[1];
            dev.read(mm, va, b);
            assertThat(b[0]).isEqualTo((byte) 42);
            assertThat(mm.page(va).isOn(dev.node())).isTrue();
            if (combining) {
                assertThat(copier.get()).isSameAs(Thread.currentThread());
            } else {
                assertThat(copier.get().getName()).isEqualTo("hmm-faults-lone0");
            }
            HmmStats s = engine.stats();
            assertThat(s.deviceFaults()).isEqualTo(1);
            assertThat(s.servicedFaults()).isEqualTo(1);
            assertThat(s.faultBatches()).isEqualTo(1);
            assertThat(dev.pendingFaults()).isZero();
            assertThat(engine.check()).isEmpty();
        }
    }

    // many accessors faulting the same page: coalesced, migrated once; raised = serviced + duplicates exactly
    @ParameterizedTest
    @MethodSource("policiesAndServicing")
    void duplicate_faults_are_coalesced_and_the_accounting_is_exact(ReplayPolicy policy, boolean combining)
            throws Exception {
        try (HmmEngine engine = HmmEngine.create(EngineConfig.of(8L << 20))) {
            TestDriver driver = new TestDriver("dev0", MemoryType.DEVICE_PRIVATE, 4L << 20, 1);
            Device dev = engine.attachDevice(driver,
                    FaultServiceConfig.defaults().withReplayPolicy(policy).withFaultingThreadServices(combining));
            int threads = 8;
            // every thread faults page 0 first; its first copy waits until every thread has raised that fault (or
            // 2 s), so they pile up on the same page whoever services; later copies are just slow
            java.util.concurrent.atomic.AtomicBoolean first = new java.util.concurrent.atomic.AtomicBoolean(true);
            driver.failWith((seq, i, s, d) -> {
                if (first.getAndSet(false)) {
                    long deadline = System.nanoTime() + 2_000_000_000L;
                    while (engine.stats().deviceFaults() < threads && System.nanoTime() < deadline) {
                        sleepMicros(50);
                    }
                    sleepMicros(1_000); // their records land in the buffer
                }
                sleepMicros(200);
                return false;
            });
            AddressSpace mm = engine.createAddressSpace();
            long va = mm.mmap(16 * PAGE, Prot.READ_WRITE);
            CyclicBarrier go = new CyclicBarrier(threads);
            onThreads(threads, 60, id -> {
                go.await();
                dev.touch(mm, va, 8, AccessType.READ);
                for (int p = 0; p < 16; p++) {
                    dev.touch(mm, va + (long) ((p + id) % 16) * PAGE, 8, AccessType.READ);
                }
            });
            HmmStats s = engine.stats();
            assertThat(s.deviceFaults()).isEqualTo(s.servicedFaults() + s.duplicateFaults());
            assertThat(s.duplicateFaults()).isPositive();
            assertThat(s.pagesToDevice()).as("each page migrated once").isEqualTo(16);
            assertThat(s.faultBatches()).isPositive();
            assertThat(s.replays()).isPositive();
            assertThat(engine.check()).isEmpty();
        }
    }

    // a warp's faults enter the buffer together (one claim of the producer index for all that fit); a warp larger
    // than the free space enters it in parts, waiting in between, and nothing is lost or duplicated
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void a_warp_larger_than_the_free_buffer_enters_it_in_parts(boolean combining) throws Exception {
        try (HmmEngine engine = HmmEngine.create(EngineConfig.of(16L << 20).withMigrateBatchPages(8))) {
            TestDriver driver = new TestDriver("dev0", MemoryType.DEVICE_PRIVATE, 8L << 20, 1);
            driver.failWith((seq, i, s, d) -> {
                sleepMicros(20);
                return false;
            });
            // warps of up to 16 faults into a buffer of 2 entries
            Device dev = engine.attachDevice(driver,
                    new FaultServiceConfig(16, ReplayPolicy.BATCH, 2, 20, false, false, combining));
            AddressSpace mm = engine.createAddressSpace();
            int pages = 1024;
            long va = mm.mmap((long) pages * PAGE, Prot.READ_WRITE);
            onThreads(6, 120, id -> {
                SplittableRandom r = new SplittableRandom(id);
                for (int k = 0; k < 40; k++) {
                    int first = r.nextInt(pages - 16);
                    dev.touch(mm, va + (long) first * PAGE, 16L * PAGE, AccessType.WRITE);
                }
            });
            HmmStats s = engine.stats();
            assertThat(s.faultBufferFullWaits()).as("warps waited for room").isPositive();
            assertThat(s.deviceFaults()).isEqualTo(s.servicedFaults() + s.duplicateFaults());
            assertThat(dev.pendingFaults()).isZero();
            assertThat(engine.check()).isEmpty();
        }
    }

    // a full fault buffer makes producers wait; nothing is lost: raised = serviced + duplicates, exactly
    @ParameterizedTest
    @MethodSource("policiesAndServicing")
    void a_full_fault_buffer_applies_back_pressure_and_loses_nothing(ReplayPolicy policy, boolean combining)
            throws Exception {
        try (HmmEngine engine = HmmEngine.create(EngineConfig.of(16L << 20).withMigrateBatchPages(8))) {
            TestDriver driver = new TestDriver("dev0", MemoryType.DEVICE_PRIVATE, 8L << 20, 1);
            driver.failWith((seq, i, s, d) -> {
                sleepMicros(100);
                return false;
            });
            Device dev = engine.attachDevice(driver, new FaultServiceConfig(4, policy, 2, 20, false, false, combining));
            AddressSpace mm = engine.createAddressSpace();
            int pages = 1024;
            long va = mm.mmap((long) pages * PAGE, Prot.READ_WRITE);
            int threads = 12;
            AtomicInteger done = new AtomicInteger();
            onThreads(threads, 120, id -> {
                SplittableRandom r = new SplittableRandom(id);
                for (int k = 0; k < 200; k++) {
                    dev.touch(mm, va + (long) r.nextInt(pages) * PAGE, 1, AccessType.WRITE);
                    done.incrementAndGet();
                }
            });
            HmmStats s = engine.stats();
            assertThat(done.get()).isEqualTo(threads * 200);
            assertThat(s.faultBufferFullWaits()).as("producers waited on the full buffer").isPositive();
            assertThat(s.deviceFaults()).isEqualTo(s.servicedFaults() + s.duplicateFaults());
            assertThat(dev.pendingFaults()).isZero();
            assertThat(s.faultWaitNanos()).isPositive();
            assertThat(engine.check()).isEmpty();
        }
    }

    // range-fault retry under concurrent invalidation: the mirror never keeps a stale entry, checked after every step
    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4})
    void range_fault_retries_under_concurrent_invalidation_never_leave_a_stale_mirror_entry(long seed) {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 4L << 20)) {
            int pages = 64;
            long va = f.mm.mmap((long) pages * PAGE, Prot.READ_WRITE);
            f.fillInts(va, pages * PAGE, 0);
            Device other = f.addDevice("dev1", MemoryType.DEVICE_PRIVATE, 4L << 20);
            SplittableRandom rnd = new SplittableRandom(seed);
            AtomicInteger injected = new AtomicInteger();
            // in the window between the walk and the mirror lock, change the CPU side of a random page
            f.engine.hooks.beforeMirrorLock = () -> {
                if (rnd.nextInt(3) != 0) {
                    return;
                }
                injected.incrementAndGet();
                long page = va + (long) rnd.nextInt(pages) * PAGE;
                switch (rnd.nextInt(4)) {
                    case 0 -> f.engine.migrateToRam(f.mm, page, PAGE);
                    case 1 -> f.engine.migrate(f.mm, page, PAGE, other);
                    case 2 -> f.mm.mprotect(page, PAGE, Prot.READ);
                    default -> f.mm.mprotect(page, PAGE, Prot.READ_WRITE);
                }
            };
            byte[] b = new byte[PAGE];
            for (int step = 0; step < 400; step++) {
                long page = va + (long) rnd.nextInt(pages) * PAGE;
                if (rnd.nextInt(4) == 0) {
                    // an invalidation that leaves the page where it is: the next device touch maps it by range fault
                    f.mm.mprotect(page, PAGE, rnd.nextBoolean() ? Prot.READ : Prot.READ_WRITE);
                    assertThat(f.engine.check()).as("after step " + step).isEmpty();
                    continue;
                }
                try {
                    if (rnd.nextBoolean()) {
                        f.device.read(f.mm, page, b);
                        Fixture.assertIntsAt(b, (int) ((page - va) / 4), 0);
                    } else {
                        f.device.touch(f.mm, page, PAGE, AccessType.WRITE);
                    }
                } catch (SegmentationFaultException e) {
                    assertThat(f.mm.findVma(page).prot()).isEqualTo(Prot.READ); // a write raced an mprotect
                }
                assertThat(f.engine.check()).as("after step " + step).isEmpty();
            }
            f.engine.hooks.beforeMirrorLock = null;
            assertThat(injected.get()).isPositive();
            assertThat(f.engine.stats().rangeFaultRetries()).as("the mapping retried").isPositive();
            assertThat(f.engine.stats().mirrorInvalidations()).isPositive();
        }
    }

    // hmm.exclusive: device-exclusive pages; a CPU touch revokes, the device sees it, the data is intact
    @Test
    void exclusive_access_is_revoked_by_a_cpu_touch() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 4L << 20)) {
            int pages = 16;
            long va = f.mm.mmap((long) pages * PAGE, Prot.READ_WRITE);
            f.fillInts(va, pages * PAGE, 0);
            assertThat(f.device.makeExclusive(f.mm, va, (long) pages * PAGE)).isEqualTo(pages);
            for (int p = 0; p < pages; p++) {
                assertThat(f.mm.page(va + (long) p * PAGE).kind()).isEqualTo(PageInfo.Kind.EXCLUSIVE);
                assertThat(f.device.isExclusive(f.mm, va + (long) p * PAGE)).isTrue();
            }
            assertThat(f.mm.page(va).memoryType()).as("exclusive pages stay in RAM").isEqualTo(MemoryType.SYSTEM_RAM);
            byte[] one = {1, 0, 0, 0};
            f.device.atomicWrite(f.mm, va, MemorySegment.ofArray(one)); // int 0 := 1, in place
            assertThat(f.engine.check()).isEmpty();
            // ptr[i]++ from the CPU: each page's first touch revokes
            byte[] b = new byte[pages * PAGE];
            f.mm.read(va, b);
            MemorySegment s = MemorySegment.ofArray(b);
            for (int i = 0; i < b.length / 4; i++) {
                s.set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, 4L * i, i + 1);
            }
            f.mm.write(va, b);
            assertThat(f.engine.stats().exclusiveRevocations()).isEqualTo(pages);
            assertThat(f.device.exclusiveRevocationsSeen()).isEqualTo(pages);
            for (int p = 0; p < pages; p++) {
                assertThat(f.device.isExclusive(f.mm, va + (long) p * PAGE)).isFalse();
                assertThat(f.mm.page(va + (long) p * PAGE).kind()).isEqualTo(PageInfo.Kind.PRESENT);
            }
            byte[] seen = new byte[pages * PAGE];
            f.device.read(f.mm, va, seen);
            Fixture.assertInts(seen, 1);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // hmm.exclusive_mprotect: after exclusive, a read-only mprotect stops device writes
    @Test
    void exclusive_then_mprotect_read_only_refuses_device_writes() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 4L << 20)) {
            long va = f.mm.mmap(4 * PAGE, Prot.READ_WRITE);
            f.fillInts(va, 4 * PAGE, 0);
            f.device.makeExclusive(f.mm, va, 4 * PAGE);
            f.mm.mprotect(va, 4 * PAGE, Prot.READ);
            assertThatThrownBy(() -> f.device.write(f.mm, va, new byte[4])).isInstanceOf(SegmentationFaultException.class);
            byte[] b = new byte[4 * PAGE];
            f.device.read(f.mm, va, b);
            Fixture.assertInts(b, 0);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // atomics on RAM pages under the exclusive-atomics policy take device exclusivity instead of migrating
    @Test
    void exclusive_atomics_policy_keeps_pages_in_ram() {
        try (HmmEngine engine = HmmEngine.create(EngineConfig.of(8L << 20))) {
            Device dev = engine.attachDevice(new TestDriver("dev0", MemoryType.DEVICE_PRIVATE, 4L << 20, 1),
                    FaultServiceConfig.defaults().withExclusiveAtomics(true));
            AddressSpace mm = engine.createAddressSpace();
            long va = mm.mmap(4 * PAGE, Prot.READ_WRITE);
            mm.write(va, new byte[4 * PAGE]);
            dev.atomicWrite(mm, va, MemorySegment.ofArray(new byte[] {9}));
            assertThat(mm.page(va).kind()).isEqualTo(PageInfo.Kind.EXCLUSIVE);
            assertThat(engine.stats().pagesToDevice()).isZero();
            assertThat(mm.readByte(va)).isEqualTo((byte) 9);
            assertThat(engine.stats().exclusiveRevocations()).isEqualTo(1);
        }
    }

    // a page that cannot move (pinned) is mapped remotely, the reason counted; the data is right
    @Test
    void pinned_pages_are_accessed_remotely() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 4L << 20)) {
            long va = f.mm.mmap(4 * PAGE, Prot.READ_WRITE);
            f.fillInts(va, 4 * PAGE, 6);
            try (PinnedRange pin = f.mm.pin(va, 4 * PAGE)) {
                byte[] b = new byte[4 * PAGE];
                f.device.read(f.mm, va, b);
                Fixture.assertInts(b, 6);
                f.device.write(f.mm, va, new byte[] {1, 0, 0, 0});
                assertThat(f.mm.readByte(va)).isEqualTo((byte) 1);
                assertThat(f.engine.stats().remoteMappings()).containsKey("pinned");
                assertThat(f.engine.stats().remoteAccesses()).isGreaterThanOrEqualTo(5);
                assertThat(Pte.isRemote(f.device.mirrorEntry(f.mm, va))).isTrue();
                assertThat(f.engine.check()).isEmpty();
            }
        }
    }

    // device memory exhausted: the rest is mapped remotely (no eviction configured yet)
    @Test
    void out_of_device_memory_maps_remotely() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 8L * PAGE)) {
            long va = f.mm.mmap(16 * PAGE, Prot.READ_WRITE);
            f.fillInts(va, 16 * PAGE, 2);
            byte[] b = new byte[16 * PAGE];
            f.device.read(f.mm, va, b);
            Fixture.assertInts(b, 2);
            assertThat(f.engine.stats().remoteMappings()).containsEntry("outOfDeviceMemory", 8L);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // hmm2.snapshot: hmm_range_fault without faulting reports each kind of page
    @Test
    void snapshot_reports_each_kind_of_page() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 4L << 20)) {
            Device other = f.addDevice("dev1", MemoryType.DEVICE_PRIVATE, 4L << 20);
            long va = f.mm.mmap(6 * PAGE, Prot.READ_WRITE);
            f.mm.mprotect(va, PAGE, Prot.NONE); // p0
            // p1 stays a hole
            f.mm.write(va + 2 * PAGE, new byte[1]);
            f.mm.mprotect(va + 2 * PAGE, PAGE, Prot.READ); // p2 read-only
            f.mm.write(va + 3 * PAGE, new byte[1]); // p3 read-write
            f.mm.write(va + 4 * PAGE, new byte[1]);
            f.engine.migrate(f.mm, va + 4 * PAGE, PAGE, f.device); // p4 on dev0
            f.mm.write(va + 5 * PAGE, new byte[1]);
            f.engine.migrate(f.mm, va + 5 * PAGE, PAGE, other); // p5 on dev1
            HmmRange r = new HmmRange(va, va + 6 * PAGE, PAGE, 0, 0, f.device.owner());
            assertThat(f.mm.hmmRangeFault(r)).isEqualTo(HmmRange.Status.OK);
            long[] p = r.pfns();
            assertThat(p[0]).isEqualTo(HmmRange.PFN_ERROR);
            assertThat(p[1]).isZero();
            assertThat(p[2] & HmmRange.PFN_FLAGS).isEqualTo(HmmRange.PFN_VALID);
            assertThat(p[3] & HmmRange.PFN_FLAGS).isEqualTo(HmmRange.PFN_VALID | HmmRange.PFN_WRITE);
            assertThat(p[4] & HmmRange.PFN_FLAGS)
                    .isEqualTo(HmmRange.PFN_VALID | HmmRange.PFN_WRITE | HmmRange.PFN_DEVICE_PRIVATE);
            assertThat(Pfn.node(HmmRange.pfn(p[4]))).isEqualTo(f.device.node().id());
            assertThat(p[5]).as("another owner's private page is not faulted in a snapshot").isZero();
            assertThat(f.mm.page(va + 5 * PAGE).isOn(other.node())).isTrue();
            // faulting mode brings dev1's page back to RAM and reports the RAM frame
            HmmRange fault = new HmmRange(va + 5 * PAGE, va + 6 * PAGE, PAGE, HmmRange.REQ_FAULT, 0, f.device.owner());
            assertThat(f.mm.hmmRangeFault(fault)).isEqualTo(HmmRange.Status.OK);
            assertThat(Pfn.node(HmmRange.pfn(fault.pfns()[0]))).isZero();
            HmmRange bad = new HmmRange(va, va + PAGE, PAGE, HmmRange.REQ_FAULT, 0, f.device.owner());
            assertThat(f.mm.hmmRangeFault(bad)).isEqualTo(HmmRange.Status.FAULT);
        }
    }

    // munmap invalidates the mirror; a later device touch is a segmentation fault
    @Test
    void munmap_invalidates_the_mirror() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_COHERENT, 8L << 20, 4L << 20)) {
            long va = f.mm.mmap(8 * PAGE, Prot.READ_WRITE);
            f.device.write(f.mm, va, new byte[8 * PAGE]);
            assertThat(f.device.mirrorEntry(f.mm, va)).isNotZero();
            f.mm.munmap(va, 8 * PAGE);
            assertThat(f.device.mirrorEntry(f.mm, va)).isZero();
            assertThatThrownBy(() -> f.device.read(f.mm, va, new byte[1])).isInstanceOf(SegmentationFaultException.class)
                    .hasMessageContaining("dev0");
            assertThat(f.engine.stats().mirrorInvalidations()).isGreaterThanOrEqualTo(8);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    /** Waits until the thread named {@code name} is parked (at most 10 s). */
    static void awaitParked(String name) {
        Thread t = Thread.getAllStackTraces().keySet().stream().filter(x -> x.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no thread " + name));
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (t.getState() != Thread.State.WAITING) {
            assertThat(System.nanoTime()).as(name + " never parked").isLessThan(deadline);
            sleepMicros(100);
        }
    }

    static void sleepMicros(long us) {
        long end = System.nanoTime() + us * 1000;
        while (System.nanoTime() < end) {
            Thread.onSpinWait();
        }
    }
}
