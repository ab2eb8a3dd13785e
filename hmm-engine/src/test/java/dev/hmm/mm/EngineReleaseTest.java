package dev.hmm.mm;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.ref.WeakReference;
import org.junit.jupiter.api.Test;

/**
 * A closed engine is garbage, even for the threads that used it. The engine keeps per-thread state (fault records,
 * migration scratch, TLB slots); a value in a thread's {@code ThreadLocal} map that reaches back to its engine would
 * keep the engine, its frame tables and its page tables alive for as long as the thread lives: an application that
 * creates engines on a long-lived thread would leak one per engine.
 */
public class EngineReleaseTest {
    static final int PAGE = 4096;

    @Test
    void a_closed_engine_is_collected_although_this_thread_faulted_and_migrated_through_it() throws Exception {
        assertCollected(useAndClose());
    }

    /** Asserts that {@code engine}'s referent is collected within about a second of garbage collections. */
    public static void assertCollected(WeakReference<HmmEngine> engine) throws InterruptedException {
        for (int i = 0; i < 50 && engine.get() != null; i++) {
            System.gc();
            Thread.sleep(20);
        }
        assertThat(engine.get()).as("the closed engine is still reachable").isNull();
    }

    /** Creates an engine, faults and migrates through it on this thread, closes it; returns a weak reference. */
    private static WeakReference<HmmEngine> useAndClose() {
        HmmEngine engine = HmmEngine.create(EngineConfig.of(4L << 20));
        try (engine) {
            Device dev = engine.attachDevice(new TestDriver("gpu0", MemoryType.DEVICE_PRIVATE, 1L << 20, 2));
            AddressSpace mm = engine.createAddressSpace();
            long va = mm.mmap(64L * PAGE, Prot.READ_WRITE);
            mm.write(va, new byte[] {7});
            dev.read(mm, va, new byte[1]); // a device fault raised by this thread: its fault record
            engine.migrate(mm, va, 64L * PAGE, dev); // this thread's migration scratch
            byte[] b = new byte[1];
            mm.read(va, b); // a CPU fault on a device-private page: migrateToRam on this thread
            assertThat(b[0]).isEqualTo((byte) 7);
            engine.migrate(mm, va, 64L * PAGE, dev);
            engine.migrateToRam(mm, va, 64L * PAGE);
        }
        return new WeakReference<>(engine);
    }
}
