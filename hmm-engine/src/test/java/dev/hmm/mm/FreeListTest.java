package dev.hmm.mm;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

/**
 * The free list keeps its links in the reverse-map slots of free frames: a frame popped and mapped gets a real reverse
 * map in the slot a concurrent popper may still be walking. The storm checks that no frame is ever handed to two
 * owners, that every frame comes back, and that a reader of a free frame's reverse map sees "maps nothing".
 */
class FreeListTest {
    private static final int FRAMES = 4096;

    @Test
    void links_live_in_the_reverse_map_slot_and_read_as_no_mapping() {
        FrameTable t = new FrameTable(0, 8, false);
        FreeList free = new FreeList(t);
        free.push(new int[] {0, 1, 2, 3, 4, 5, 6, 7}, 0, 8);
        for (int i = 0; i < 8; i++) {
            assertThat(Rmap.isNone(t.laRmap(i))).as("free frame %d maps nothing", i).isTrue();
            assertThat(Rmap.isFile(t.laRmap(i))).isFalse();
            assertThat(Rmap.isDuplicate(t.laRmap(i))).isFalse();
        }
        assertThat(free.walk(100)).isEqualTo(8);
        int[] out = new int[8];
        assertThat(free.pop(out, 0, 3)).isEqualTo(3);
        assertThat(out).startsWith(0, 1, 2);
        t.soRmap(0, Rmap.anon(0, 0)); // vpn 0 of space 0: the reverse map nearest to a link's bit pattern
        assertThat(t.freeLink(0)).as("a mapped frame's slot is no link").isEqualTo(-1);
        assertThat(free.walk(100)).isEqualTo(5);
        assertThat(free.count()).isEqualTo(5);
    }

    @RepeatedTest(5)
    void storm_never_hands_a_frame_to_two_owners() throws Exception {
        FrameTable t = new FrameTable(0, FRAMES, false);
        FreeList free = new FreeList(t);
        int[] all = new int[FRAMES];
        for (int i = 0; i < FRAMES; i++) {
            all[i] = i;
        }
        free.push(all, 0, FRAMES);
        AtomicIntegerArray owner = new AtomicIntegerArray(FRAMES); // 0 = on the free list, else thread id + 1
        int threads = 4;
        CyclicBarrier start = new CyclicBarrier(threads);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> ts = new ArrayList<>();
        for (int id = 1; id <= threads; id++) {
            int me = id;
            ts.add(Thread.ofPlatform().start(() -> {
                try {
                    SplittableRandom rnd = new SplittableRandom(me * 7919L);
                    int[] held = new int[256];
                    start.await();
                    for (int round = 0; round < 20_000 && failure.get() == null; round++) {
                        int got = free.pop(held, 0, 1 + rnd.nextInt(held.length));
                        for (int k = 0; k < got; k++) {
                            int f = held[k];
                            if (!owner.compareAndSet(f, 0, me)) {
                                throw new AssertionError("frame " + f + " popped while owned by " + owner.get(f));
                            }
                            t.soRmap(f, Rmap.anon(me, rnd.nextLong(1L << 36))); // mapped: the link is overwritten
                        }
                        for (int k = 0; k < got; k++) {
                            int f = held[k];
                            t.soRmap(f, Rmap.NONE);
                            owner.set(f, 0);
                        }
                        if (got > 0) {
                            free.push(held, 0, got);
                        }
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }));
        }
        for (Thread th : ts) {
            th.join();
        }
        assertThat(failure.get()).isNull();
        assertThat(free.count()).isEqualTo(FRAMES);
        assertThat(free.walk(FRAMES + 1)).as("every frame back on the list, none twice").isEqualTo(FRAMES);
        int[] out = new int[FRAMES];
        assertThat(free.pop(out, 0, FRAMES)).isEqualTo(FRAMES);
        assertThat(java.util.Arrays.stream(out).distinct().count()).isEqualTo(FRAMES);
    }
}
