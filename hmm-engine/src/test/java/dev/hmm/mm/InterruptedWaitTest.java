package dev.hmm.mm;

import static dev.hmm.mm.Fixture.PAGE;
import static org.assertj.core.api.Assertions.assertThat;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A thread whose interrupt flag is set still sleeps in the engine's unbounded waits, and gets its flag back after:
 * a copy in flight ({@code Submission.await}), a fault being serviced by another thread ({@code FaultRecord}), a
 * page under migration ({@code migration_entry_wait}, {@link PageWaitTable}). None of them can be abandoned halfway,
 * and {@code LockSupport.park} returns at once while the flag is set, so a wait that kept the flag would spin on its
 * core for as long as the copy took. Each test holds a copy for {@link #HOLD_NANOS} and checks the waiter's CPU time.
 */
@Timeout(30)
class InterruptedWaitTest {
    private static final long HOLD_NANOS = 400_000_000L;
    private static final ThreadMXBean CPU = ManagementFactory.getThreadMXBean();

    /** A copy fault injector that holds the first page of every batch until {@link #release}, after it is entered. */
    private static final class Held implements CopyFaultInjector {
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);

        @Override
        public boolean shouldFail(long batchSeq, int i, int srcIndex, int dstIndex) {
            if (i == 0) {
                entered.countDown();
                while (release.getCount() > 0) {
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        // copy threads are not interrupted here; hold on
                    }
                }
            }
            return false;
        }

        /** Releases the held copy {@link #HOLD_NANOS} from now, from another thread. */
        void releaseLater() {
            Thread.ofPlatform().daemon().start(() -> {
                LockSupport.parkNanos(HOLD_NANOS);
                release.countDown();
            });
        }
    }

    /** Runs {@code waiting} with the interrupt flag set; returns its CPU time, after checking the flag came back. */
    private static long interruptedCpuNanos(Runnable waiting) {
        Thread.currentThread().interrupt();
        long t0 = CPU.getCurrentThreadCpuTime();
        waiting.run();
        long used = CPU.getCurrentThreadCpuTime() - t0;
        assertThat(Thread.interrupted()).as("the interrupt flag is given back").isTrue();
        return used;
    }

    // a spinning waiter burns the whole hold; a parked one a few thousand spins and yields
    private static void assertParked(long cpuNanos) {
        assertThat(cpuNanos).as("CPU time of the waiter, ns, during a %d ns hold", HOLD_NANOS)
                .isLessThan(HOLD_NANOS / 2);
    }

    @Test
    void a_copy_in_flight() {
        int pages = (int) (MemcpyCopyEngine.INLINE_BYTES / PAGE); // handed to the copy thread
        Held held = new Held();
        try (PageStore src = PageStore.offHeap(pages, PAGE); PageStore dst = PageStore.offHeap(pages, PAGE)) {
            src.memory().fill((byte) 5);
            MemcpyCopyEngine engine = MemcpyCopyEngine.dedicated("held", 1, held);
            CopyBatch b = new CopyBatch(pages);
            b.reset(src, dst);
            for (int i = 0; i < pages; i++) {
                b.add(i, i);
            }
            held.releaseLater();
            CopyEngine.Submission s = engine.submit(b);
            assertParked(interruptedCpuNanos(s::await));
            assertThat(held.release.getCount()).isZero();
            assertThat(b.failures()).isZero();
            assertThat(dst.memory().get(java.lang.foreign.ValueLayout.JAVA_BYTE, (long) pages * PAGE - 1))
                    .isEqualTo((byte) 5);
            engine.close();
        }
    }

    @Test
    void a_device_fault_serviced_by_the_servicing_thread() {
        Held held = new Held();
        try (HmmEngine engine = HmmEngine.create(EngineConfig.of(8L << 20))) {
            TestDriver driver = new TestDriver("dev0", MemoryType.DEVICE_PRIVATE, 8L << 20, 1);
            Device device = engine.attachDevice(driver,
                    FaultServiceConfig.defaults().withFaultingThreadServices(false)); // the accessor only waits
            AddressSpace mm = engine.createAddressSpace();
            long va = mm.mmap(PAGE, Prot.READ_WRITE);
            byte[] page = new byte[PAGE];
            java.util.Arrays.fill(page, (byte) 9);
            mm.write(va, page);
            driver.failWith(held);
            held.releaseLater();
            byte[] got = new byte[PAGE];
            assertParked(interruptedCpuNanos(() -> device.read(mm, va, got)));
            assertThat(held.release.getCount()).isZero();
            assertThat(got).isEqualTo(page);
            assertThat(engine.stats().deviceFaults()).isEqualTo(1);
        }
    }

    @Test
    void a_page_under_migration() throws Exception {
        Held held = new Held();
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 8L << 20)) {
            long va = f.mm.mmap(PAGE, Prot.READ_WRITE);
            f.fillInts(va, PAGE, 3);
            f.driver.failWith(held);
            Thread migrating = Thread.ofPlatform().start(() -> f.engine.migrate(f.mm, va, PAGE, f.device));
            held.entered.await(); // the page's CPU entry is a migration entry now, until the copy is released
            held.releaseLater();
            byte[] got = new byte[PAGE];
            assertParked(interruptedCpuNanos(() -> f.mm.read(va, got))); // waits, then faults the page back
            migrating.join();
            Fixture.assertInts(got, 3);
            assertThat(f.engine.stats().migrationWaits()).isEqualTo(1);
        }
    }
}
