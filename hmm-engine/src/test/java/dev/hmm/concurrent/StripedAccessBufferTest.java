package dev.hmm.concurrent;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class StripedAccessBufferTest {

    @Test
    void one_producer_keeps_order_and_a_full_stripe_refuses() {
        StripedAccessBuffer b = new StripedAccessBuffer(1);
        for (int i = 0; i < StripedAccessBuffer.RING; i++) {
            assertThat(b.offer(0, i)).isEqualTo(StripedAccessBuffer.SUCCESS);
        }
        assertThat(b.offer(0, 999)).isEqualTo(StripedAccessBuffer.FULL);
        List<Integer> out = new ArrayList<>();
        assertThat(b.drain(out::add)).isEqualTo(StripedAccessBuffer.RING);
        for (int i = 0; i < out.size(); i++) {
            assertThat(out.get(i)).isEqualTo(i);
        }
        assertThat(b.offer(0, 7)).isEqualTo(StripedAccessBuffer.SUCCESS);
        out.clear();
        b.drain(out::add);
        assertThat(out).containsExactly(7);
        assertThat(b.drain(out::add)).isZero();
    }

    // a stripe drained up to a recorded position gives exactly the values offered before it, and keeps the rest
    @Test
    void a_stripe_drains_up_to_a_recorded_position() {
        StripedAccessBuffer b = new StripedAccessBuffer(2);
        b.offer(0, 1);
        b.offer(0, 2);
        b.offer(1, 50);
        long mark = b.written(0);
        assertThat(mark).isEqualTo(2);
        b.offer(0, 3);
        List<Integer> out = new ArrayList<>();
        assertThat(b.drainStripe(0, mark, out::add)).isEqualTo(2);
        assertThat(out).containsExactly(1, 2);
        assertThat(b.drainStripe(0, mark, out::add)).as("nothing before the mark is left").isZero();
        out.clear();
        b.drain(out::add);
        assertThat(out).containsExactlyInAnyOrder(3, 50);
    }

    /**
     * A deterministic interleaving harness: producers' claims and publishes and the consumer's drains interleave in a
     * random order at the granularity of the protocol's steps; after every step nothing is drained twice, no value
     * appears that was not offered, each stripe drains in claim order, and a drain never skips a claimed slot that is
     * not yet written.
     */
    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void every_interleaving_of_claims_publishes_and_drains_keeps_the_invariants(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int stripes = 2;
        StripedAccessBuffer b = new StripedAccessBuffer(stripes);
        int producers = 5;
        int[] stripeOf = new int[producers];
        long[] claimedAt = new long[producers]; // -1: no claim outstanding
        int[] next = new int[producers];
        java.util.Arrays.fill(claimedAt, -1);
        List<List<Integer>> published = new ArrayList<>(); // per stripe, in claim order
        for (int s = 0; s < stripes; s++) {
            published.add(new ArrayList<>());
        }
        List<List<Long>> claimOrder = new ArrayList<>();
        for (int s = 0; s < stripes; s++) {
            claimOrder.add(new ArrayList<>());
        }
        java.util.Map<Long, Integer> valueAtPosition = new java.util.HashMap<>();
        Set<Integer> drained = new HashSet<>();
        int[] drainedCount = new int[stripes];
        long full = 0;
        for (int p = 0; p < producers; p++) {
            stripeOf[p] = p % stripes;
        }
        for (int step = 0; step < 20_000; step++) {
            int choice = r.nextInt(60) == 0 ? producers : r.nextInt(producers); // drains rare enough to fill
            if (choice == producers) {
                List<Integer> got = new ArrayList<>();
                b.drain(got::add);
                for (int v : got) {
                    assertThat(drained.add(v)).as("drained twice: " + v).isTrue();
                    int s = v % stripes;
                    // FIFO per stripe: the k-th value drained from stripe s is the k-th claimed there
                    long pos = claimOrder.get(s).get(drainedCount[s]);
                    assertThat(valueAtPosition.get(pos * stripes + s)).as("stripe " + s + " order").isEqualTo(v);
                    drainedCount[s]++;
                }
                continue;
            }
            int p = choice;
            int s = stripeOf[p];
            if (claimedAt[p] < 0) {
                long c = b.claim(s);
                if (c == -StripedAccessBuffer.FULL) {
                    full++;
                    continue;
                }
                assertThat(c).isGreaterThanOrEqualTo(0); // one thread: a CAS never fails
                claimedAt[p] = c;
                claimOrder.get(s).add(c);
            } else {
                // values encode their stripe so the check above can find it: v = (producer * 1e6 + n) * stripes + s
                int v = (p * 1_000_000 + next[p]++) * stripes + s;
                b.publish(s, claimedAt[p], v);
                valueAtPosition.put(claimedAt[p] * stripes + s, v);
                published.get(s).add(v);
                claimedAt[p] = -1;
            }
        }
        // finish: publish outstanding claims, drain, and everything published was drained exactly once
        for (int p = 0; p < producers; p++) {
            if (claimedAt[p] >= 0) {
                int v = (p * 1_000_000 + next[p]++) * stripes + stripeOf[p];
                b.publish(stripeOf[p], claimedAt[p], v);
                valueAtPosition.put(claimedAt[p] * stripes + stripeOf[p], v);
                published.get(stripeOf[p]).add(v);
            }
        }
        b.drain(v -> assertThat(drained.add(v)).isTrue());
        int total = published.stream().mapToInt(List::size).sum();
        assertThat(drained).hasSize(total);
        assertThat(full).isPositive(); // the harness did reach full stripes
    }

    /**
     * A storm of real threads: offered = succeeded + failed + full, drained = succeeded, no phantom or duplicate, and
     * each producer's values drain in the order it offered them.
     */
    @Test
    void a_storm_of_producers_loses_only_what_it_counts_and_keeps_each_producers_order() throws Exception {
        StripedAccessBuffer b = new StripedAccessBuffer(4);
        int producers = 6;
        int per = 200_000;
        AtomicLong ok = new AtomicLong();
        AtomicLong refused = new AtomicLong();
        AtomicBoolean done = new AtomicBoolean();
        int[] lastSeen = new int[producers];
        java.util.Arrays.fill(lastSeen, -1);
        long[] drained = {0};
        List<String> violations = new ArrayList<>();
        Thread consumer = Thread.ofPlatform().start(() -> {
            java.util.function.IntConsumer check = v -> {
                int p = v / per;
                int n = v % per;
                if (p >= producers || n <= lastSeen[p]) {
                    violations.add("producer " + p + " value " + n + " after " + (p < producers ? lastSeen[p] : -1));
                } else {
                    lastSeen[p] = n;
                }
                drained[0]++;
            };
            while (!done.get()) {
                b.drain(check);
                Thread.onSpinWait();
            }
            b.drain(check);
        });
        List<Thread> ts = new ArrayList<>();
        for (int p = 0; p < producers; p++) {
            int id = p;
            ts.add(Thread.ofPlatform().start(() -> {
                for (int n = 0; n < per; n++) {
                    if (b.offer(id * per + n) == StripedAccessBuffer.SUCCESS) {
                        ok.incrementAndGet();
                    } else {
                        refused.incrementAndGet();
                    }
                }
            }));
        }
        for (Thread t : ts) {
            t.join();
        }
        done.set(true);
        consumer.join();
        assertThat(violations).isEmpty();
        assertThat(ok.get() + refused.get()).isEqualTo((long) producers * per);
        assertThat(drained[0]).isEqualTo(ok.get());
    }
}
