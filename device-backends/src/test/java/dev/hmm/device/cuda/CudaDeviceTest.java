package dev.hmm.device.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.hmm.mm.AddressSpace;
import dev.hmm.mm.CopyBatch;
import dev.hmm.mm.DataPlane;
import dev.hmm.mm.Device;
import dev.hmm.mm.EngineConfig;
import dev.hmm.mm.HmmEngine;
import dev.hmm.mm.MigrateResult;
import dev.hmm.mm.MigrationResult;
import dev.hmm.mm.PageStore;
import dev.hmm.mm.Prot;
import dev.hmm.mm.StressHarness;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The CUDA backend end to end: on this machine's GPU if it has one, else on the fake driver ({@link FakeCuda}), which
 * checks what a GPU would (contexts, registered host memory, grid limits) and counts what is live.
 */
class CudaDeviceTest {
    private static String library;

    @BeforeAll
    static void driver() {
        library = FakeCuda.library().orElse(null);
        assumeTrue(library != null, "no GPU and no C compiler to build the fake CUDA driver");
    }

    private static CudaDevice gpu(long bytes) {
        return new CudaDevice(CudaDeviceConfig.of("gpu0", bytes).withLibrary(library));
    }

    /** An engine of {@code config} with a 4 MiB GPU device and one address space; closing it closes all. */
    private static final class OnGpu implements AutoCloseable {
        final HmmEngine engine;
        final CudaDevice driver = gpu(4L << 20);
        final Device gpu;
        final AddressSpace mm;

        OnGpu(EngineConfig config) {
            engine = HmmEngine.create(config);
            gpu = engine.attachDevice(driver);
            mm = engine.createAddressSpace();
        }

        @Override
        public void close() {
            engine.close();
        }
    }

    // pages go to GPU memory and back intact, at every page size, through one kernel launch per batch
    @ParameterizedTest
    @ValueSource(ints = {4096, 65536, 2 << 20})
    void migrates_both_ways_at_every_page_size(int pageSize) {
        EngineConfig c = EngineConfig.of(32L << 20).withPageSize(pageSize).withMigrateBatchPages(64);
        try (HmmEngine engine = HmmEngine.create(c)) {
            CudaDevice driver = gpu(16L << 20);
            Device gpu = engine.attachDevice(driver);
            AddressSpace mm = engine.createAddressSpace();
            long len = 8L << 20;
            long va = mm.mmap(len, Prot.READ_WRITE);
            byte[] data = new byte[(int) len];
            new Random(pageSize).nextBytes(data);
            mm.write(va, data);
            MigrationResult r = engine.migrate(mm, va, len, gpu);
            assertThat(r.migrated()).as("%s, driver: %s", r, driver.lastCopyError()).isEqualTo(len / pageSize);
            assertThat(driver.kernelLaunches()).isPositive();
            byte[] seen = new byte[(int) len];
            gpu.read(mm, va, seen); // device reads of GPU memory: cuMemcpyDtoH through the page store
            assertThat(seen).isEqualTo(data);
            MigrationResult back = engine.migrateToRam(mm, va, len);
            assertThat(back.migrated()).as("%s, driver: %s", back, driver.lastCopyError()).isEqualTo(len / pageSize);
            mm.read(va, seen);
            assertThat(seen).isEqualTo(data);
            assertThat(driver.failedBatches()).isZero();
            assertThat(engine.check()).isEmpty();
        }
    }

    // a device write lands in GPU memory (cuMemcpyHtoD), a CPU touch brings it back
    @Test
    void device_writes_reach_the_cpu_after_migration_back() {
        try (OnGpu g = new OnGpu(EngineConfig.of(8L << 20))) {
            HmmEngine engine = g.engine;
            CudaDevice driver = g.driver;
            Device gpu = g.gpu;
            AddressSpace mm = g.mm;
            long va = mm.mmap(64 * 4096, Prot.READ_WRITE);
            mm.write(va, new byte[64 * 4096]);
            MigrationResult r = engine.migrate(mm, va, 64 * 4096, gpu);
            assertThat(r.migrated()).as("%s, driver: %s", r, driver.lastCopyError()).isEqualTo(64);
            byte[] msg = "written by the GPU, read by the CPU".getBytes();
            gpu.write(mm, va + 4096 * 7 + 100, msg);
            byte[] seen = new byte[msg.length];
            mm.peek(va + 4096 * 7 + 100, seen); // straight from GPU memory, no fault
            assertThat(seen).isEqualTo(msg);
            mm.read(va + 4096 * 7 + 100, seen); // a CPU fault: migrateToRam of that page
            assertThat(seen).isEqualTo(msg);
            assertThat(engine.check()).isEmpty();
        }
    }

    // a hole migrated to the GPU is zero-filled by the kernel: GPU memory is not zeroed (the fake fills it with 0xA5)
    @Test
    void holes_arrive_zero_filled() {
        try (OnGpu g = new OnGpu(EngineConfig.of(8L << 20))) {
            HmmEngine engine = g.engine;
            CudaDevice driver = g.driver;
            Device gpu = g.gpu;
            AddressSpace mm = g.mm;
            long va = mm.mmap(32 * 4096, Prot.READ_WRITE);
            MigrationResult r = engine.migrate(mm, va, 32 * 4096, gpu);
            assertThat(r.migrated()).as("%s, driver: %s", r, driver.lastCopyError()).isEqualTo(32);
            byte[] seen = new byte[32 * 4096];
            java.util.Arrays.fill(seen, (byte) 7);
            gpu.read(mm, va, seen);
            assertThat(seen).containsOnly(0);
        }
    }

    // more pages than one grid holds go out in several launches, each page to its own place
    @Test
    void a_batch_beyond_the_grid_limit_is_split_into_launches() {
        int pages = CudaCopyEngine.MAX_PAGES_PER_LAUNCH + 1000;
        int ps = 16; // the kernel's smallest unit: the store does not care about the engine's page sizes
        try (PageStore ram = PageStore.offHeap(pages, ps);
                CudaDevice driver = gpu(1L << 20);
                PageStore dev = driver.createPageStore(pages, ps, DataPlane.REAL)) {
            MemorySegment host = ram.memory();
            for (int i = 0; i < pages; i++) {
                host.set(ValueLayout.JAVA_INT, (long) i * ps, i);
            }
            CopyBatch b = new CopyBatch(pages);
            b.reset(ram, dev);
            for (int i = 0; i < pages; i++) {
                b.add(i, pages - 1 - i); // reversed: a wrong index or offset per launch shows
            }
            long before = driver.kernelLaunches();
            driver.copyEngine().copy(b);
            assertThat(b.failures()).as("driver: %s", driver.lastCopyError()).isZero();
            assertThat(driver.kernelLaunches() - before).isEqualTo(2);
            b.reset(dev, ram);
            for (int i = 0; i < pages; i++) {
                b.add(i, i);
            }
            host.fill((byte) 0);
            driver.copyEngine().copy(b);
            assertThat(b.failures()).as("driver: %s", driver.lastCopyError()).isZero();
            for (int i = 0; i < pages; i++) {
                assertThat(host.get(ValueLayout.JAVA_INT, (long) i * ps)).as("page %d", i).isEqualTo(pages - 1 - i);
            }
        }
    }

    // a batch the GPU fails is rolled back page by page; the next one goes through
    @Test
    void a_failed_launch_rolls_the_batch_back() {
        assumeTrue(FakeCuda.isFake(), "failures are injected through the fake driver");
        try (OnGpu g = new OnGpu(EngineConfig.of(8L << 20))) {
            HmmEngine engine = g.engine;
            CudaDevice driver = g.driver;
            Device gpu = g.gpu;
            AddressSpace mm = g.mm;
            long va = mm.mmap(64 * 4096, Prot.READ_WRITE);
            byte[] data = new byte[64 * 4096];
            new Random(3).nextBytes(data);
            mm.write(va, data);
            FakeCuda.hooks().failNextLaunches(1, 719); // CUDA_ERROR_LAUNCH_FAILED
            MigrationResult r = engine.migrate(mm, va, 64 * 4096, gpu);
            assertThat(r.count(MigrateResult.COPY_FAILED)).as(r.toString()).isEqualTo(64);
            assertThat(driver.failedBatches()).isEqualTo(1);
            assertThat(driver.lastCopyError()).contains("CUDA_ERROR_LAUNCH_FAILED");
            byte[] seen = new byte[data.length];
            mm.read(va, seen);
            assertThat(seen).isEqualTo(data);
            MigrationResult again = engine.migrate(mm, va, 64 * 4096, gpu);
            assertThat(again.migrated()).as("%s, driver: %s", again, driver.lastCopyError()).isEqualTo(64);
            gpu.read(mm, va, seen);
            assertThat(seen).isEqualTo(data);
            assertThat(engine.check()).isEmpty();
        }
    }

    // the GPU copies asynchronously, so migrate_vma pipelines: slice k+1 is launched on a second stream before slice
    // k is synchronized. A failure reported at slice 0's synchronize rolls back slice 0 alone
    @Test
    void a_pipelined_migration_rolls_back_only_the_slice_the_gpu_failed() {
        assumeTrue(FakeCuda.isFake(), "failures are injected through the fake driver");
        int pages = 256; // one chunk, sliced in 4 slices of 64 pages (Migrator.PIPELINE_SLICES, MIN_SLICE_BYTES)
        try (OnGpu g = new OnGpu(EngineConfig.of(8L << 20).withMigrateBatchPages(pages))) {
            assertThat(g.gpu.copyEngine().asynchronous()).isTrue();
            long len = pages * 4096L;
            long va = g.mm.mmap(len, Prot.READ_WRITE);
            byte[] data = new byte[(int) len];
            new Random(5).nextBytes(data);
            g.mm.write(va, data);
            FakeCuda.hooks().failNextLaunches(1, 719); // CUDA_ERROR_LAUNCH_FAILED, reported at the synchronize
            MigrationResult r = g.engine.migrate(g.mm, va, len, g.gpu);
            for (int i = 0; i < pages; i++) {
                assertThat(r.result(i)).as("page %d: %s", i, r)
                        .isEqualTo(i < 64 ? MigrateResult.COPY_FAILED : MigrateResult.MIGRATED);
            }
            assertThat(g.driver.failedBatches()).isEqualTo(1);
            // one thread, two lanes: slice k+1 was launched while slice k's lane waited for its synchronize (the
            // fake runs a kernel only at its stream's synchronize, so a lane handed back early would show in the bytes)
            assertThat(FakeCuda.hooks().liveStreams()).isGreaterThanOrEqualTo(2);
            byte[] seen = new byte[data.length];
            g.gpu.read(g.mm, va, seen);
            assertThat(seen).isEqualTo(data);
            MigrationResult back = g.engine.migrateToRam(g.mm, va, len);
            assertThat(back.migrated()).as("%s, driver: %s", back, g.driver.lastCopyError()).isEqualTo(pages);
            g.mm.read(va, seen);
            assertThat(seen).isEqualTo(data);
            assertThat(g.engine.check()).isEmpty();
        }
    }

    // concurrent migrations, faults and accesses from several threads (a stream per thread), checked byte for byte
    @Test
    void stress_from_several_threads() throws Exception {
        try (OnGpu g = new OnGpu(EngineConfig.of(8L << 20).withMigrateBatchPages(64))) {
            HmmEngine engine = g.engine;
            CudaDevice driver = g.driver;
            Device gpu = g.gpu;
            AddressSpace mm = g.mm;
            long len = 512L * 4096;
            long va = mm.mmap(len, Prot.READ_WRITE);
            StressHarness.Outcome out = StressHarness.run(engine, mm, va, len, List.of(gpu),
                    StressHarness.Options.defaults().withOps(2_000));
            assertThat(out.clean()).as(out.toString()).isTrue();
            // the harness tolerates failed copies (it checks data); the driver must not have failed any
            assertThat(driver.failedBatches()).as(driver.lastCopyError()).isZero();
            assertThat(driver.kernelLaunches()).isPositive();
        }
    }

    // a CUDA context is current per thread: a thread that never used the GPU migrates as well as the one that opened it
    @Test
    void a_fresh_thread_migrates() throws Exception {
        try (OnGpu g = new OnGpu(EngineConfig.of(8L << 20))) {
            HmmEngine engine = g.engine;
            CudaDevice driver = g.driver;
            Device gpu = g.gpu;
            AddressSpace mm = g.mm;
            long va = mm.mmap(16 * 4096, Prot.READ_WRITE);
            byte[] data = new byte[16 * 4096];
            new Random(5).nextBytes(data);
            mm.write(va, data);
            MigrationResult[] r = new MigrationResult[2];
            Thread t = new Thread(() -> r[0] = engine.migrate(mm, va, 16 * 4096, gpu));
            t.start();
            t.join();
            assertThat(r[0].migrated()).as(r[0] + " " + driver.lastCopyError()).isEqualTo(16);
            t = new Thread(() -> r[1] = engine.migrateToRam(mm, va, 16 * 4096));
            t.start();
            t.join();
            assertThat(r[1].migrated()).as(r[1] + " " + driver.lastCopyError()).isEqualTo(16);
            byte[] seen = new byte[data.length];
            mm.read(va, seen);
            assertThat(seen).isEqualTo(data);
        }
    }

    // closing the engine gives every allocation, stream, registration and context back to the driver
    @Test
    void close_releases_everything_it_took() {
        assumeTrue(FakeCuda.isFake(), "the fake driver counts what is live");
        FakeCuda.Hooks h = FakeCuda.hooks();
        long bytes = h.liveDeviceBytes();
        int host = h.liveHostAllocations();
        int ranges = h.registeredRanges();
        int streams = h.liveStreams();
        int contexts = h.retainedContexts();
        try (OnGpu g = new OnGpu(EngineConfig.of(8L << 20))) {
            HmmEngine engine = g.engine;
            CudaDevice driver = g.driver;
            Device gpu = g.gpu;
            AddressSpace mm = g.mm;
            long va = mm.mmap(64 * 4096, Prot.READ_WRITE);
            mm.write(va, new byte[64 * 4096]);
            engine.migrate(mm, va, 64 * 4096, gpu);
            try (CudaCopyCeiling ceiling = driver.copyCeiling(1 << 20)) {
                ceiling.roundTrip();
            }
            assertThat(h.liveDeviceBytes()).isGreaterThan(bytes);
            assertThat(h.registeredRanges()).isEqualTo(ranges + 1); // the RAM node, registered once
            assertThat(h.liveStreams()).isGreaterThan(streams);
        }
        assertThat(h.liveDeviceBytes()).isEqualTo(bytes);
        assertThat(h.liveHostAllocations()).isEqualTo(host);
        assertThat(h.registeredRanges()).isEqualTo(ranges);
        assertThat(h.liveStreams()).isEqualTo(streams);
        assertThat(h.retainedContexts()).isEqualTo(contexts);
    }

    @Test
    void the_metadata_plane_takes_no_gpu_memory_and_launches_nothing() {
        try (HmmEngine engine = HmmEngine.create(EngineConfig.of(64L << 20).withDataPlane(DataPlane.METADATA))) {
            CudaDevice driver = gpu(32L << 20);
            Device gpu = engine.attachDevice(driver);
            AddressSpace mm = engine.createAddressSpace();
            long va = mm.mmap(32L << 20, Prot.READ_WRITE);
            mm.touch(va, 32L << 20, dev.hmm.mm.AccessType.WRITE);
            assertThat(engine.migrate(mm, va, 32L << 20, gpu).migrated()).isEqualTo((32L << 20) / 4096);
            assertThat(driver.kernelLaunches()).isZero();
        }
    }

    @Test
    void a_missing_driver_a_missing_gpu_and_too_much_memory_are_refused_clearly() {
        assertThatThrownBy(() -> new CudaDevice(CudaDeviceConfig.of("gpu0", 1 << 20)
                .withLibrary("/nonexistent/libcuda.so.1")))
                .isInstanceOf(CudaException.class)
                .hasMessageContaining("/nonexistent/libcuda.so.1 cannot be loaded");
        assertThatThrownBy(() -> new CudaDevice(CudaDeviceConfig.of("gpu0", 1 << 20).withLibrary(library)
                .withOrdinal(64)))
                .isInstanceOf(CudaException.class)
                .hasMessageContaining("no CUDA device 64");
        assertThatThrownBy(() -> new CudaDevice(CudaDeviceConfig.of("gpu0", 1L << 50).withLibrary(library)))
                .isInstanceOf(CudaException.class)
                .hasMessageContaining("asks for");
        assertThatThrownBy(() -> CudaDeviceConfig.of("gpu0", 0)).hasMessageContaining("capacityBytes=0");
        assertThatThrownBy(() -> CudaDeviceConfig.of("gpu0", 1).withOrdinal(-1)).hasMessageContaining("ordinal=-1");
    }
}
