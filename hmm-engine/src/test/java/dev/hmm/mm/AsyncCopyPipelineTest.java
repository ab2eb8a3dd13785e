package dev.hmm.mm;

import static dev.hmm.mm.Fixture.PAGE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Migrations on a device whose copy engine is asynchronous ({@link CopyEngine#asynchronous}): the chunks of one call
 * are pipelined (the next one set up and submitted before the previous one is finalized), and everything a
 * synchronous migration guarantees still holds: every byte arrives, failed pages roll back alone, an exception in the
 * middle leaves no page half-migrated, and the shadow-copy stress stays clean.
 */
class AsyncCopyPipelineTest {
    // a migrate_vma chunk; a pipelined call slices it in Migrator.PIPELINE_SLICES slices of 64 pages (256 KiB)
    static final int BATCH = 256;

    private static Fixture fixture(MemoryType type, int copyThreads) {
        return new Fixture(EngineConfig.of(8L << 20).withMigrateBatchPages(BATCH), type, 8L << 20, copyThreads, true);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2})
    void a_pipelined_round_trip_moves_every_byte(int copyThreads) {
        int pages = 3 * BATCH + 7; // several chunks and a short last one
        try (Fixture f = fixture(MemoryType.DEVICE_PRIVATE, copyThreads)) {
            assertThat(f.device.copyEngine().asynchronous()).isTrue();
            long va = f.mm.mmap((long) pages * PAGE, Prot.READ_WRITE);
            f.fillInts(va, pages * PAGE, 11);
            for (int round = 0; round < 3; round++) {
                MigrationResult there = f.engine.migrate(f.mm, va, (long) pages * PAGE, f.device);
                assertThat(there.migrated()).as(there.toString()).isEqualTo(pages);
                byte[] b = new byte[pages * PAGE];
                f.device.read(f.mm, va, b); // no fault: every page is on the device already
                Fixture.assertInts(b, 11);
                assertThat(f.engine.stats().deviceFaults()).isZero();
                MigrationResult back = f.engine.migrateToRam(f.mm, va, (long) pages * PAGE);
                assertThat(back.migrated()).as(back.toString()).isEqualTo(pages);
                f.mm.read(va, b);
                Fixture.assertInts(b, 11);
            }
            assertThat(f.engine.check()).isEmpty();
            f.mm.close();
            assertThat(f.device.freeFrames()).isEqualTo(f.device.node().frames());
            assertThat(f.engine.ram().freeFrames()).isEqualTo(f.engine.ram().frames());
        }
    }

    // the copy of a migration runs on the engine's own threads, never on the migrating thread (only batches under
    // MemcpyCopyEngine.INLINE_BYTES, a fault's few pages, are copied by their submitter)
    @Test
    void the_migrating_thread_never_copies_a_migration() {
        Set<String> copiers = ConcurrentHashMap.newKeySet();
        try (Fixture f = fixture(MemoryType.DEVICE_PRIVATE, 2)) {
            f.driver.failWith((seq, i, s, d) -> {
                copiers.add(Thread.currentThread().getName());
                return false;
            });
            long va = f.mm.mmap(2L * BATCH * PAGE, Prot.READ_WRITE);
            f.fillInts(va, 2 * BATCH * PAGE, 0);
            f.engine.migrate(f.mm, va, 2L * BATCH * PAGE, f.device);
            f.engine.migrateToRam(f.mm, va, 2L * BATCH * PAGE);
        }
        assertThat(copiers).isNotEmpty().allMatch(n -> n.startsWith("dev0-copy-"), "a copy-engine thread");
    }

    @Test
    void a_fault_sized_batch_is_copied_by_its_submitter() {
        int pages = (int) (MemcpyCopyEngine.INLINE_BYTES / PAGE);
        try (PageStore src = PageStore.offHeap(pages, PAGE); PageStore dst = PageStore.offHeap(pages, PAGE)) {
            src.memory().fill((byte) 3);
            Set<String> copiers = ConcurrentHashMap.newKeySet();
            MemcpyCopyEngine engine = MemcpyCopyEngine.dedicated("small", 1, (seq, i, s, d) -> {
                copiers.add(Thread.currentThread().getName());
                return false;
            });
            CopyBatch b = new CopyBatch(pages);
            b.reset(src, dst);
            for (int i = 0; i < pages - 1; i++) { // one page under INLINE_BYTES
                b.add(i, i);
            }
            assertThat(engine.submit(b)).isSameAs(CopyEngine.Submission.DONE);
            assertThat(copiers).containsExactly(Thread.currentThread().getName());
            assertThat(dst.memory().get(java.lang.foreign.ValueLayout.JAVA_BYTE, (pages - 1L) * PAGE - 1))
                    .isEqualTo((byte) 3);
            b.add(pages - 1, pages - 1); // INLINE_BYTES: handed to the copy thread
            copiers.clear();
            engine.submit(b).await();
            assertThat(copiers).containsExactly("small-copy-1");
            engine.close();
        }
    }

    // the overlap itself: chunk k+1 is submitted before chunk k's copy is awaited, and chunks end in order
    @Test
    void the_next_chunk_is_submitted_before_the_previous_one_is_awaited() {
        try (Recorded r = new Recorded(BATCH, 1)) {
            assertThat(r.engine.migrate(r.mm, r.va, r.bytes(), r.dev).migrated()).isEqualTo(BATCH);
            assertThat(r.order).containsExactly("submit 0", "submit 1", "await 0", "submit 2", "await 1", "submit 3",
                    "await 2", "await 3");
        }
    }

    // back to RAM from two devices of different owners: one pass per owner over the range, each pipelined on its own
    // copy engine (each device's second slice is submitted before its first is awaited), every byte home
    @Test
    void a_call_back_to_ram_from_two_devices_pipelines_each() {
        try (Recorded r = new Recorded(2 * BATCH, 3)) {
            RecordingDriver other = new RecordingDriver(r.order, Integer.MAX_VALUE, "b ");
            Device b = r.engine.attachDevice(other);
            long half = (long) BATCH * PAGE;
            assertThat(r.engine.migrate(r.mm, r.va, half, r.dev).migrated()).isEqualTo(BATCH);
            assertThat(r.engine.migrate(r.mm, r.va + half, half, b).migrated()).isEqualTo(BATCH);
            r.order.clear();
            MigrationResult back = r.engine.migrateToRam(r.mm, r.va, r.bytes());
            assertThat(back.migrated()).as(back.toString()).isEqualTo(2 * BATCH);
            for (String d : List.of("", "b ")) {
                List<String> mine = r.order.stream().filter(e -> e.startsWith(d + "submit") || e.startsWith(d + "await"))
                        .toList();
                assertThat(mine).as("device '%s': %s", d, r.order).hasSizeGreaterThan(2);
                assertThat(mine.indexOf(mine.get(0).replace("submit", "await")))
                        .as("device '%s' awaits its first slice after submitting its second: %s", d, mine)
                        .isGreaterThan(1);
            }
            long faults = r.engine.stats().cpuFaults();
            byte[] got = new byte[r.data.length];
            r.mm.read(r.va, got);
            assertThat(got).isEqualTo(r.data);
            assertThat(r.engine.stats().cpuFaults()).isEqualTo(faults); // read from RAM: nothing left on a device
            assertThat(r.engine.check()).isEmpty();
        }
    }

    // a page of another owner in a slice is bounced through RAM after that slice ends, while the next slice is in
    // flight: the bounce touches only that page, so the slice keeps its pages mapped on the target, and its
    // invalidations do not keep the slice in flight from being mapped either (synchronous: one chunk, the first half)
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void a_bounce_through_ram_leaves_the_other_pages_mapped(boolean async) {
        try (Fixture f = new Fixture(EngineConfig.of(8L << 20).withMigrateBatchPages(BATCH), MemoryType.DEVICE_PRIVATE,
                8L << 20, 1, async)) {
            Device other = f.addDevice("dev1", MemoryType.DEVICE_PRIVATE, 2L << 20);
            int slice = (int) (Migrator.MIN_SLICE_BYTES / PAGE);
            int pages = 2 * slice;
            long va = f.mm.mmap((long) pages * PAGE, Prot.READ_WRITE);
            f.fillInts(va, pages * PAGE, 5);
            assertThat(f.engine.migrate(f.mm, va + 3L * PAGE, PAGE, other).migrated()).isEqualTo(1);
            MigrationResult r = f.engine.migrate(f.mm, va, (long) pages * PAGE, f.device);
            assertThat(r.migrated()).as(r.toString()).isEqualTo(pages);
            long faults = f.engine.stats().deviceFaults();
            byte[] b = new byte[pages * PAGE];
            f.device.read(f.mm, va, b);
            Fixture.assertInts(b, 5);
            assertThat(f.engine.stats().deviceFaults() - faults).as("device faults reading the migrated range")
                    .isZero();
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // both ends of the pipeline are half a slice where that half is still MIN_SLICE_BYTES: 512 pages go as 64, 128,
    // 128, 128 and 64, each submitted before the one before it is awaited, and every byte arrives
    @Test
    void the_first_and_last_slices_of_a_call_are_half_slices() {
        int chunk = 512;
        int slice = chunk / Migrator.PIPELINE_SLICES;
        assertThat((long) slice / 2 * PAGE).isEqualTo(Migrator.MIN_SLICE_BYTES);
        try (Recorded r = new Recorded(chunk, 4, chunk)) {
            assertThat(r.engine.migrate(r.mm, r.va, r.bytes(), r.dev).migrated()).isEqualTo(chunk);
            assertThat(r.driver.submittedPages).containsExactly(slice / 2, slice, slice, slice, slice / 2);
            assertThat(r.order).containsExactly("submit 0", "submit 1", "await 0", "submit 2", "await 1", "submit 3",
                    "await 2", "submit 4", "await 3", "await 4");
            r.driver.submittedPages.clear();
            assertThat(r.engine.migrateToRam(r.mm, r.va, r.bytes()).migrated()).isEqualTo(chunk);
            assertThat(r.driver.submittedPages).containsExactly(slice / 2, slice, slice, slice, slice / 2);
            byte[] got = new byte[r.data.length];
            r.mm.read(r.va, got);
            assertThat(got).isEqualTo(r.data);
            assertThat(r.engine.check()).isEmpty();
        }
    }

    // a call too small to slice (one slice would be under Migrator.MIN_SLICE_BYTES) is one chunk
    @Test
    void a_small_call_is_not_sliced() {
        try (Recorded r = new Recorded(32, 2)) {
            assertThat(r.engine.migrate(r.mm, r.va, r.bytes(), r.dev).migrated()).isEqualTo(32);
            assertThat(r.order).containsExactly("submit 0", "await 0");
        }
    }

    // a batch still queued when the engine closes is copied by its waiter: the workers are gone, the wait is not endless
    @Test
    @org.junit.jupiter.api.Timeout(30)
    void a_batch_queued_at_close_is_still_copied() {
        int big = 16384; // 64 MiB: the one worker is busy with it while the second batch waits in the queue
        try (PageStore src = PageStore.offHeap(big, PAGE); PageStore dst = PageStore.offHeap(big, PAGE)) {
            src.memory().fill((byte) 7);
            MemcpyCopyEngine engine = MemcpyCopyEngine.dedicated("closing", 1, CopyFaultInjector.NONE);
            CopyBatch first = new CopyBatch(big);
            first.reset(src, dst);
            for (int i = 0; i < big; i++) {
                first.add(i, i);
            }
            CopyBatch second = new CopyBatch(1);
            second.reset(dst, src);
            second.add(CopyBatch.FILL, 1); // zero-fills src's frame 1
            CopyEngine.Submission a = engine.submit(first);
            CopyEngine.Submission b = engine.submit(second);
            engine.close();
            a.await();
            b.await();
            assertThat(first.failures()).isZero();
            assertThat(second.failures()).isZero();
            java.lang.foreign.ValueLayout.OfByte b8 = java.lang.foreign.ValueLayout.JAVA_BYTE;
            assertThat(dst.memory().get(b8, (long) big * PAGE - 1)).isEqualTo((byte) 7);
            assertThat(src.memory().get(b8, PAGE)).isZero();
            assertThat(src.memory().get(b8, 2L * PAGE)).isEqualTo((byte) 7);
            assertThatThrownBy(() -> engine.submit(second)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("closed");
        }
    }

    // a synchronous engine is not pipelined: each chunk is whole before the next begins
    @Test
    void a_synchronous_engine_runs_one_chunk_at_a_time() {
        try (Fixture f = new Fixture(EngineConfig.of(8L << 20).withMigrateBatchPages(BATCH),
                MemoryType.DEVICE_PRIVATE, 8L << 20, 1, false)) {
            assertThat(f.device.copyEngine().asynchronous()).isFalse();
            long va = f.mm.mmap(2L * BATCH * PAGE, Prot.READ_WRITE);
            f.mm.touch(va, 2L * BATCH * PAGE, AccessType.WRITE);
            f.engine.migrate(f.mm, va, 2L * BATCH * PAGE, f.device);
            assertThat(f.engine.stats().copyBatches()).isEqualTo(2); // one per 256-page chunk, not one per slice
        }
    }

    @ParameterizedTest
    @EnumSource(value = MemoryType.class, names = {"DEVICE_PRIVATE", "DEVICE_COHERENT"})
    void copy_failures_in_overlapping_chunks_roll_back_exactly_those_pages(MemoryType type) {
        int pages = 2 * BATCH;
        try (Fixture f = fixture(type, 2)) {
            long va = f.mm.mmap((long) pages * PAGE, Prot.READ_WRITE);
            f.fillInts(va, pages * PAGE, 5);
            // fail the first page of every slice: pages 0, 64, 128, ... of the range
            f.driver.failWith((seq, i, s, d) -> i == 0);
            MigrationResult r = f.engine.migrate(f.mm, va, (long) pages * PAGE, f.device);
            f.driver.failWith(CopyFaultInjector.NONE);
            int slice = BATCH / Migrator.PIPELINE_SLICES;
            for (int i = 0; i < pages; i++) {
                boolean failed = i % slice == 0;
                assertThat(r.result(i)).as("page " + i)
                        .isEqualTo(failed ? MigrateResult.COPY_FAILED : MigrateResult.MIGRATED);
                assertThat(f.mm.page(va + (long) i * PAGE).memoryType()).as("page " + i)
                        .isEqualTo(failed ? MemoryType.SYSTEM_RAM : type);
            }
            assertThat(r.count(MigrateResult.COPY_FAILED)).isEqualTo(pages / slice);
            byte[] b = new byte[pages * PAGE];
            f.device.read(f.mm, va, b);
            Fixture.assertInts(b, 5);
            f.mm.read(va, b);
            Fixture.assertInts(b, 5);
            assertThat(f.engine.check()).isEmpty();
        }
    }

    // an engine that throws on its third submission: the chunk that was being begun rolls back, the one in flight
    // completes, the exception reaches the caller, and nothing is left isolated or half-copied
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void an_exception_in_the_middle_of_the_pipeline_leaves_every_page_whole(boolean toDevice) {
        int pages = BATCH;
        try (Recorded r = new Recorded(pages, 3)) {
            HmmEngine engine = r.engine;
            AddressSpace mm = r.mm;
            if (!toDevice) {
                assertThat(engine.migrate(mm, r.va, r.bytes(), r.dev).migrated()).isEqualTo(pages);
            }
            r.driver.throwAt.set(r.driver.submits.get() + 2); // the third submission of the next call
            assertThatThrownBy(() -> {
                if (toDevice) {
                    engine.migrate(mm, r.va, r.bytes(), r.dev);
                } else {
                    engine.migrateToRam(mm, r.va, r.bytes());
                }
            }).isInstanceOf(IllegalStateException.class).hasMessageContaining("injected submit failure");
            assertThat(engine.check()).isEmpty();
            int slice = BATCH / Migrator.PIPELINE_SLICES;
            MemoryType moved = toDevice ? MemoryType.DEVICE_PRIVATE : MemoryType.SYSTEM_RAM;
            MemoryType stayed = toDevice ? MemoryType.SYSTEM_RAM : MemoryType.DEVICE_PRIVATE;
            for (int i = 0; i < pages; i++) {
                // slices 0 and 1 completed (1 was in flight when 2 failed); 2 rolled back; 3 never began
                assertThat(mm.page(r.va + (long) i * PAGE).memoryType()).as("page " + i)
                        .isEqualTo(i < 2 * slice ? moved : stayed);
            }
            byte[] back = new byte[pages * PAGE];
            mm.read(r.va, back); // every page faults back whole
            assertThat(back).isEqualTo(r.data);
            r.driver.throwAt.set(Integer.MAX_VALUE);
            assertThat(engine.migrate(mm, r.va, r.bytes(), r.dev).migrated()).isEqualTo(pages);
            r.dev.read(mm, r.va, back);
            assertThat(back).isEqualTo(r.data);
            assertThat(engine.check()).isEmpty();
        }
    }

    // an engine whose await throws: that slice rolls back (its copy's state is unknown), the slice in flight
    // completes, and the exception reaches the caller
    @Test
    void an_await_that_throws_rolls_its_slice_back() {
        int pages = BATCH;
        try (Recorded r = new Recorded(pages, 4)) {
            r.driver.awaitThrowAt.set(1); // slice 1, awaited while slice 2 is in flight
            assertThatThrownBy(() -> r.engine.migrate(r.mm, r.va, r.bytes(), r.dev))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("injected await failure");
            int slice = BATCH / Migrator.PIPELINE_SLICES;
            for (int i = 0; i < pages; i++) {
                int s = i / slice; // 0 and 2 completed, 1 rolled back, 3 never began
                assertThat(r.mm.page(r.va + (long) i * PAGE).memoryType()).as("page " + i)
                        .isEqualTo(s == 0 || s == 2 ? MemoryType.DEVICE_PRIVATE : MemoryType.SYSTEM_RAM);
            }
            assertThat(r.engine.check()).isEmpty();
            byte[] back = new byte[pages * PAGE];
            r.mm.read(r.va, back);
            assertThat(back).isEqualTo(r.data);
            assertThat(r.engine.check()).isEmpty();
        }
    }

    // a thread waiting for the mmap lock (mmap, munmap, mprotect) gets it between two slices, as it would between two
    // synchronous chunks: the pipeline ends the slice in flight before it begins the next, so the read lock drops
    @Test
    void a_queued_writer_gets_the_mmap_lock_between_slices() throws Exception {
        try (Recorded r = new Recorded(BATCH, 5)) {
            AddressSpace mm = r.mm;
            java.util.concurrent.CountDownLatch mapped = new java.util.concurrent.CountDownLatch(1);
            java.util.concurrent.atomic.AtomicBoolean writerWasFirst = new java.util.concurrent.atomic.AtomicBoolean();
            Thread writer = new Thread(() -> {
                mm.mmap(PAGE, Prot.READ_WRITE);
                mapped.countDown();
            });
            r.driver.onSubmit = k -> {
                if (k == 1) { // two slices in flight: queue a writer behind them
                    writer.start();
                    while (!mm.mmapLock.hasQueuedThreads()) {
                        Thread.onSpinWait();
                    }
                } else if (k == 3) { // the writer has had its turn by now, or never gets one before the call ends
                    try {
                        writerWasFirst.set(mapped.await(10, java.util.concurrent.TimeUnit.SECONDS));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            };
            assertThat(r.engine.migrate(mm, r.va, r.bytes(), r.dev).migrated()).isEqualTo(BATCH);
            writer.join(10_000);
            assertThat(writerWasFirst).as("the writer got the mmap lock before the last slice began").isTrue();
            assertThat(r.engine.check()).isEmpty();
        }
    }

    // the shadow-copy stress of ConcurrencyStressTest with the copies on the engine's own threads
    @ParameterizedTest
    @EnumSource(value = MemoryType.class, names = {"DEVICE_PRIVATE", "DEVICE_COHERENT"})
    void cpu_and_device_threads_with_pipelined_migrations_lose_no_byte(MemoryType type) throws Exception {
        long length = 512L * PAGE;
        try (Fixture f = new Fixture(EngineConfig.of(4L << 20).withMigrateBatchPages(32), type, 4L << 20, 1, true)) {
            long va = f.mm.mmap(length, Prot.READ_WRITE);
            StressHarness.Outcome out = StressHarness.run(f.engine, f.mm, va, length, List.of(f.device),
                    StressHarness.Options.defaults().withSeed(5));
            assertThat(out.clean()).as(out.toString()).isTrue();
            assertThat(f.engine.stats().pagesToDevice()).isPositive();
            assertThat(f.engine.stats().pagesToRam()).isPositive();
            f.mm.close();
            assertThat(f.engine.ram().freeFrames()).isEqualTo(f.engine.ram().frames());
            assertThat(f.device.freeFrames()).isEqualTo(f.device.node().frames());
        }
    }

    /**
     * An engine with a {@link RecordingDriver} (migrate_vma chunks of {@link #BATCH}) and {@code pages} pages mapped
     * in RAM, filled with random bytes ({@link #data}) from {@code seed}.
     */
    private static final class Recorded implements AutoCloseable {
        final List<String> order = Collections.synchronizedList(new ArrayList<>());
        final HmmEngine engine;
        final RecordingDriver driver = new RecordingDriver(order, Integer.MAX_VALUE);
        final Device dev;
        final AddressSpace mm;
        final int pages;
        final long va;
        final byte[] data;

        Recorded(int pages, long seed) {
            this(pages, seed, BATCH);
        }

        /** As above, with {@code migrate_vma} chunks of {@code batchPages}. */
        Recorded(int pages, long seed, int batchPages) {
            this.engine = HmmEngine.create(EngineConfig.of(8L << 20).withMigrateBatchPages(batchPages));
            this.dev = engine.attachDevice(driver);
            this.mm = engine.createAddressSpace();
            this.pages = pages;
            this.va = mm.mmap(bytes(), Prot.READ_WRITE);
            this.data = new byte[pages * PAGE];
            new java.util.Random(seed).nextBytes(data);
            mm.write(va, data);
        }

        long bytes() {
            return (long) pages * PAGE;
        }

        @Override
        public void close() {
            engine.close();
        }
    }

    /**
     * A REAL private device whose asynchronous engine records each submission and await in {@code order} (by
     * submission number within the engine) and throws on submission number {@code throwAt}.
     */
    private static final class RecordingDriver implements DeviceDriver {
        final MemcpyCopyEngine inner = MemcpyCopyEngine.dedicated("rec", 1, CopyFaultInjector.NONE);
        final AtomicInteger submits = new AtomicInteger();
        /** The pages of each recorded submission, in order. */
        final List<Integer> submittedPages = Collections.synchronizedList(new ArrayList<>());
        final AtomicInteger throwAt;
        /** The submission whose await throws (after its copy is done: the engine cannot know that). */
        final AtomicInteger awaitThrowAt = new AtomicInteger(-1);
        /** Called with each submission's number before it is submitted. */
        volatile java.util.function.IntConsumer onSubmit = k -> { };
        final List<String> order;
        final CopyEngine engine = new CopyEngine() {
            @Override
            public void copy(CopyBatch batch) {
                inner.copy(batch); // evictions and faults: not recorded
            }

            @Override
            public Submission submit(CopyBatch batch) {
                int k = submits.getAndIncrement();
                onSubmit.accept(k);
                if (k == throwAt.get()) {
                    throw new IllegalStateException("injected submit failure at submission " + k);
                }
                order.add(prefix + "submit " + k);
                submittedPages.add(batch.count());
                Submission s = inner.submit(batch);
                return () -> {
                    s.await();
                    if (k == awaitThrowAt.get()) {
                        throw new IllegalStateException("injected await failure at submission " + k);
                    }
                    order.add(prefix + "await " + k);
                };
            }

            @Override
            public boolean asynchronous() {
                return true;
            }

            @Override
            public int threads() {
                return 1;
            }

            @Override
            public void close() {
                inner.close();
            }
        };

        /** Prepended to each record, and the driver's name when not empty. */
        final String prefix;

        RecordingDriver(List<String> order, int throwAt) {
            this(order, throwAt, "");
        }

        RecordingDriver(List<String> order, int throwAt, String prefix) {
            this.order = order;
            this.throwAt = new AtomicInteger(throwAt);
            this.prefix = prefix;
        }

        @Override
        public String name() {
            return prefix.isEmpty() ? "rec" : prefix.trim();
        }

        @Override
        public MemoryType memoryType() {
            return MemoryType.DEVICE_PRIVATE;
        }

        @Override
        public long capacityBytes() {
            return 8L << 20;
        }

        @Override
        public PageStore createPageStore(long frames, int pageSize, DataPlane plane) {
            return PageStore.create(plane, frames, pageSize);
        }

        @Override
        public CopyEngine copyEngine() {
            return engine;
        }
    }
}
