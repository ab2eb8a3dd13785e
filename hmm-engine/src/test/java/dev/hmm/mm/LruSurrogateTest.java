package dev.hmm.mm;

import static dev.hmm.mm.Fixture.PAGE;
import static org.assertj.core.api.Assertions.assertThat;

import dev.hmm.policy.EvictionPolicy;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The LRU surrogate hands one thread's hints and events to the policy in the order the thread produced them. */
class LruSurrogateTest {

    /** Logs what the surrogate tells it, and chooses nothing. */
    static final class Recorder implements EvictionPolicy {
        final List<String> calls = new ArrayList<>();

        @Override
        public void onInsert(int frame) {
            calls.add("insert " + frame);
        }

        @Override
        public void onAccess(int frame) {
            calls.add("access " + frame);
        }

        @Override
        public void onRemove(int frame) {
            calls.add("remove " + frame);
        }

        @Override
        public int candidates(int[] out, int max) {
            return 0;
        }

        @Override
        public int size() {
            return 0;
        }
    }

    // The drain that once ranked the newest page the oldest: it ran between a page's insertion and its first hint, and
    // applied all insertions before all hints, so every page hinted before the insertion went above it.
    @Test
    void hints_and_events_of_one_thread_reach_the_policy_in_program_order() {
        Recorder rec = new Recorder();
        try (HmmEngine engine = HmmEngine.create(EngineConfig.of(8L << 20))) {
            Device dev = engine.attachDevice(new TestDriver("gpu0", MemoryType.DEVICE_PRIVATE, 8L * PAGE, 1),
                    FaultServiceConfig.defaults(), EvictionConfig.onDemand(ctx -> rec));
            AddressSpace mm = engine.createAddressSpace();
            long va = mm.mmap(2L * PAGE, Prot.READ_WRITE);
            dev.touch(mm, va, 2L * PAGE, AccessType.WRITE);
            int f0 = Pfn.index(mm.page(va).pfn());
            int f1 = Pfn.index(mm.page(va + PAGE).pfn());
            LruSurrogate lru = dev.lru;
            drain(lru);
            rec.calls.clear();

            lru.recordAccess(f0);
            lru.publish(new int[] {f1}, 1);
            lru.recordAccess(f1);
            lru.recordAccess(f0);
            lru.publish(new int[] {~f1}, 1);
            drain(lru);
            assertThat(rec.calls).containsExactly("access " + f0, "insert " + f1, "access " + f1, "access " + f0,
                    "remove " + f1);
        }
    }

    private static void drain(LruSurrogate lru) {
        lru.lock.lock();
        try {
            lru.drainLocked();
        } finally {
            lru.lock.unlock();
        }
    }
}
