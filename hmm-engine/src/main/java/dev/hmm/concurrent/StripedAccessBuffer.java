package dev.hmm.concurrent;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.function.IntConsumer;

/**
 * A lossy, striped, many-producer / one-consumer buffer of {@code int}s (frame numbers): the read buffer of
 * Caffeine's {@code BoundedBuffer} / {@code StripedBuffer}, without boxing. Accessors record "frame f was accessed"
 * hints on the hot path; whoever holds the owner's lock drains them in batches.
 *
 * <h2>Protocol (per stripe: a ring of {@value #RING} slots, a write counter, a read counter)</h2>
 * <pre>
 *  producer offer(v):                                  consumer drain (one thread at a time, by contract):
 *    head = lv(read); tail = lv(write)                   head = lp(read); tail = lv(write)
 *    tail - head &gt;= RING       -&gt; FULL                  while head &lt; tail:
 *    !cas(write, tail, tail+1) -&gt; FAILED (no retry)        v = la(slot[head])
 *    so(slot[tail], v + 1)     -&gt; SUCCESS                  v == 0: the producer has claimed but not yet
 *                                                                  written it: stop here (it is drained next time)
 *                                                           so(slot[head], 0); consume(v - 1); head++
 *                                                         so(read, head)
 * </pre>
 * A slot holds {@code value + 1}, so 0 means empty. A producer tries exactly one CAS: under contention the hint is
 * dropped ({@link #FAILED}) rather than retried, and a full stripe drops it too ({@link #FULL}); both are counted by
 * the caller. The consumer clears a slot (release) before it advances the read counter (release), so a producer that
 * sees the new read counter also sees the cleared slot, and a slot is never overwritten before it was drained.
 * Producers pick a stripe from their thread id, so one thread's hints stay in order (FIFO per stripe).
 */
public final class StripedAccessBuffer {
    public static final int SUCCESS = 0;
    public static final int FAILED = 1;
    public static final int FULL = 2;

    static final int RING = 64;
    private static final int MASK = RING - 1;
    /** Counters are 16 longs apart: each stripe's counters on their own cache lines. */
    private static final int PAD = 16;
    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle INTS = MethodHandles.arrayElementVarHandle(int[].class);

    private final int stripes;
    private final long[] counters; // [stripe * 2 * PAD] = write, [stripe * 2 * PAD + PAD] = read
    private final int[] slots; // stripe s: [s * RING, (s + 1) * RING)

    /** A buffer with {@code stripes} stripes (rounded up to a power of 2). */
    public StripedAccessBuffer(int stripes) {
        this.stripes = Integer.highestOneBit(Math.max(1, stripes - 1)) << 1;
        this.counters = new long[this.stripes * 2 * PAD];
        this.slots = new int[this.stripes * RING];
    }

    /** Stripes for the machine: four per available processor, at least 4. */
    public static StripedAccessBuffer forThisMachine() {
        return new StripedAccessBuffer(Math.max(4, 4 * Runtime.getRuntime().availableProcessors()));
    }

    public int stripes() {
        return stripes;
    }

    /** The stripe of the calling thread. */
    public int stripeOfCurrentThread() {
        long id = Thread.currentThread().threadId();
        return (int) ((id * 0x9E3779B97F4A7C15L) >>> 40) & (stripes - 1);
    }

    /** Offers {@code value} (&gt;= 0) to the calling thread's stripe: {@link #SUCCESS}, {@link #FAILED} or {@link #FULL}. */
    public int offer(int value) {
        return offer(stripeOfCurrentThread(), value);
    }

    /** Offers to a given stripe (tests and callers that manage stripes themselves). */
    public int offer(int stripe, int value) {
        long claimed = claim(stripe);
        if (claimed < 0) {
            return (int) -claimed;
        }
        publish(stripe, claimed, value);
        return SUCCESS;
    }

    /**
     * The first half of {@link #offer}: claims the next slot of {@code stripe} with one CAS.
     *
     * @return the claimed position, or {@code -FULL} / {@code -FAILED}
     */
    long claim(int stripe) {
        int w = stripe * 2 * PAD;
        int r = w + PAD;
        long head = (long) LONGS.getVolatile(counters, r);
        long tail = (long) LONGS.getVolatile(counters, w);
        if (tail - head >= RING) {
            return -FULL;
        }
        if (!LONGS.compareAndSet(counters, w, tail, tail + 1)) {
            return -FAILED;
        }
        return tail;
    }

    /** The second half of {@link #offer}: writes the value into the claimed position (release). */
    void publish(int stripe, long position, int value) {
        INTS.setRelease(slots, stripe * RING + (int) (position & MASK), value + 1);
    }

    /**
     * How many values {@code stripe} has taken so far: a point in its FIFO order. A caller that records it next to an
     * event of its own (in another queue) can later {@link #drainStripe drain the stripe up to it} before it applies
     * the event, and so merge the two streams in the order one thread produced them.
     */
    public long written(int stripe) {
        return (long) LONGS.getVolatile(counters, stripe * 2 * PAD);
    }

    /**
     * Drains every stripe into {@code consumer}, oldest first per stripe. Only one thread may drain at a time (the
     * owner's lock holder).
     *
     * @return values drained
     */
    public int drain(IntConsumer consumer) {
        int drained = 0;
        for (int s = 0; s < stripes; s++) {
            drained += drainStripe(s, Long.MAX_VALUE, consumer);
        }
        return drained;
    }

    /**
     * Drains {@code stripe} into {@code consumer}, oldest first, up to but not including position {@code upTo} (a
     * value of {@link #written}). Same contract as {@link #drain}.
     *
     * @return values drained
     */
    public int drainStripe(int stripe, long upTo, IntConsumer consumer) {
        int w = stripe * 2 * PAD;
        int r = w + PAD;
        long head = (long) LONGS.get(counters, r);
        long end = Math.min(upTo, (long) LONGS.getVolatile(counters, w));
        int base = stripe * RING;
        int drained = 0;
        while (head < end) {
            int idx = base + (int) (head & MASK);
            int v = (int) INTS.getAcquire(slots, idx);
            if (v == 0) {
                break; // claimed, not yet written: next drain takes it
            }
            INTS.setRelease(slots, idx, 0);
            consumer.accept(v - 1);
            head++;
            drained++;
        }
        if (drained > 0) {
            LONGS.setRelease(counters, r, head);
        }
        return drained;
    }

    /** Values buffered now, approximately (diagnostics). */
    public long size() {
        long n = 0;
        for (int s = 0; s < stripes; s++) {
            int w = s * 2 * PAD;
            n += (long) LONGS.getVolatile(counters, w) - (long) LONGS.getVolatile(counters, w + PAD);
        }
        return n;
    }

    @Override
    public String toString() {
        return "StripedAccessBuffer[stripes=" + stripes + ", size=" + size() + "]";
    }
}
