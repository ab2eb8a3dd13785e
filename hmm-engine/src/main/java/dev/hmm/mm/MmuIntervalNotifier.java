package dev.hmm.mm;

import dev.hmm.concurrent.Backoff;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A subscription to invalidations of an address space's CPU entries, with sequence counts: the
 * {@code mmu_interval_notifier} / {@code hmm_range_fault} protocol that keeps a device's mirror table coherent.
 *
 * <h2>Protocol</h2>
 * <pre>
 *  driver (mirror a range)                          CPU side (any entry change)
 *  seq = readBegin(va)   waits while an             invalidateStart: seq odd (stripes covered), then
 *                        invalidation is in flight       ops.invalidate(): take the driver lock, clear
 *  snapshot / fault the CPU entries                      the device entries, drop the lock
 *  take the driver lock                             change the CPU entries (CAS), flush the TLB
 *  if readRetry(va, seq): unlock, start again       invalidateEnd: seq even again
 *  program the device entries; drop the lock
 * </pre>
 * A snapshot taken before an invalidation began sees a changed sequence and is thrown away; a snapshot taken after
 * it began waits in {@code readBegin} until the CPU entries have changed; an invalidation that begins after the
 * retry check waits for the driver lock and then clears what was programmed. So a device entry never outlives the
 * CPU entry it was derived from.
 *
 * <p>Sequences are kept per stripe of 2 MiB blocks (64 stripes), so invalidations of one block do not make the
 * mirroring of unrelated blocks retry. Stripe writes are under this object's monitor; reads are volatile.
 */
public final class MmuIntervalNotifier {
    static final int STRIPES = 64;
    static final int BLOCK_SHIFT = 21;
    private static final VarHandle SEQ = MethodHandles.arrayElementVarHandle(long[].class);

    /** What the subscriber does on an invalidation ({@code mmu_interval_notifier_ops.invalidate}). */
    public interface Ops {
        /**
         * Invalidates the subscriber's entries for {@code [start, end)} under its own lock.
         *
         * @return whether any entry was cleared (the caller then flushes the TLB)
         */
        boolean invalidate(MmuIntervalNotifier notifier, long start, long end, MmuNotifierEvent event, Object owner);
    }

    private final long start;
    private final long end;
    private final Ops ops;
    private final long[] seq = new long[STRIPES];
    private final int[] active = new int[STRIPES]; // guarded by this
    /**
     * Registered while invalidations that did not include it were in flight: until they have all ended,
     * {@code readBegin} waits and {@code readRetry} fails (Linux defers such insertions the same way).
     */
    volatile boolean pending;

    MmuIntervalNotifier(long start, long end, Ops ops) {
        this.start = start;
        this.end = end;
        this.ops = ops;
    }

    public long start() {
        return start;
    }

    public long end() {
        return end;
    }

    boolean overlaps(long s, long e) {
        return s < end && e > start;
    }

    private static int stripe(long va) {
        return (int) ((va >>> BLOCK_SHIFT) & (STRIPES - 1));
    }

    /** Calls {@code f} for each stripe the range covers (all of them for ranges of 64 blocks or more). */
    private void forStripes(long s, long e, java.util.function.IntConsumer f) {
        long first = s >>> BLOCK_SHIFT;
        long last = (e - 1) >>> BLOCK_SHIFT;
        if (last - first + 1 >= STRIPES) {
            for (int k = 0; k < STRIPES; k++) {
                f.accept(k);
            }
            return;
        }
        for (long b = first; b <= last; b++) {
            f.accept((int) (b & (STRIPES - 1)));
        }
    }

    /** {@code mmu_interval_read_begin}: the sequence of {@code va}'s stripe, once no invalidation is in flight there. */
    public long readBegin(long va) {
        int k = stripe(va);
        long v = (long) SEQ.getVolatile(seq, k);
        if ((v & 1) == 0 && !pending) {
            return v;
        }
        Backoff backoff = new Backoff();
        while (((v = (long) SEQ.getVolatile(seq, k)) & 1) != 0 || pending) {
            backoff.idle();
        }
        return v;
    }

    /** {@code mmu_interval_read_retry}: whether an invalidation touched {@code va}'s stripe since {@code readBegin}. */
    public boolean readRetry(long va, long begin) {
        return pending || (long) SEQ.getVolatile(seq, stripe(va)) != begin;
    }

    /**
     * A stamp of the stripes covering {@code [s, e)}: -1 while an invalidation is in flight there (or the notifier is
     * pending), else a value that changes whenever one begins or ends. Two equal stamps around a piece of work mean
     * no invalidation touched those stripes in between.
     */
    long stamp(long s, long e) {
        if (pending) {
            return -1;
        }
        long[] sum = {0};
        boolean[] odd = {false};
        forStripes(s, e, k -> {
            long v = (long) SEQ.getVolatile(seq, k);
            odd[0] |= (v & 1) != 0;
            sum[0] += v;
        });
        return odd[0] ? -1 : sum[0];
    }

    boolean invalidateStart(long s, long e, MmuNotifierEvent event, Object owner) {
        synchronized (this) {
            forStripes(s, e, k -> {
                if (active[k]++ == 0) {
                    SEQ.setVolatile(seq, k, (long) SEQ.getVolatile(seq, k) + 1); // odd: in flight
                }
            });
        }
        return ops.invalidate(this, Math.max(s, start), Math.min(e, end), event, owner);
    }

    void invalidateEnd(long s, long e) {
        synchronized (this) {
            forStripes(s, e, k -> {
                if (--active[k] == 0) {
                    SEQ.setVolatile(seq, k, (long) SEQ.getVolatile(seq, k) + 1); // even: done
                }
            });
        }
    }
}
