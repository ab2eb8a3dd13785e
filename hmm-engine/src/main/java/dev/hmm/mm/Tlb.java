package dev.hmm.mm;

import dev.hmm.concurrent.Backoff;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * TLB shootdown for a software page table ({@code flush_tlb_range} + the IPI that waits for every CPU). An accessor
 * translates a page and then reads or writes the frame; a migrator that has just changed the entry must not copy or
 * free the old frame while an accessor may still be using the old translation. Hardware solves this with a TLB flush
 * that interrupts every CPU; here each accessor thread owns a {@link Slot} whose sequence is odd while it is inside
 * an access, and {@link #flush()} waits until every slot that was odd has moved on: a grace period, one per batch of
 * entries changed (as Linux batches its flush per {@code migrate_vma_collect} walk).
 *
 * <h2>Protocol</h2>
 * <pre>
 *  accessor                                     migrator
 *  s.enter():   sv(seq, odd)     (1)            casPte(entry -&gt; migration entry)   (3, volatile)
 *  pte = lvPte(...)              (2)            flush(): for each slot: lv(seq)     (4)
 *  if usable(pte): use frame bytes                        if odd: wait until seq changes
 *  s.exit():    so(seq, even)                   ... copy / free the old frame
 * </pre>
 * (1)(2) and (3)(4) are volatile accesses, hence totally ordered: either the accessor's load (2) sees the new entry
 * (and does not use the old frame), or the migrator's load (4) sees the odd sequence and waits for the exit. So after
 * {@code flush()} returns no accessor still uses a translation read before (3).
 * Invariant: an accessor never blocks, faults or calls {@code flush()} between enter and exit (checked: a flush from
 * inside an access throws, since it would wait for itself).
 *
 * <p>Slots of threads that have died are skipped by flush and reused by new threads.
 */
public final class Tlb {
    private static final VarHandle SEQ;

    static {
        try {
            SEQ = MethodHandles.lookup().findVarHandle(Slot.class, "seq", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** One accessor's sequence, padded to its own cache lines (written on every access by its owner only). */
    @SuppressWarnings("unused")
    public static final class Slot {
        long p00, p01, p02, p03, p04, p05, p06, p07;
        /** Odd while the owner is inside an access; written only by the owner. */
        volatile long seq;
        long p10, p11, p12, p13, p14, p15, p16, p17;
        volatile Thread owner;

        /** Enters an access: volatile store, so the entry load that follows cannot be reordered before it. */
        public void enter() {
            SEQ.setVolatile(this, seq + 1);
        }

        /** Leaves an access: release store, so the frame accesses before it stay before it. */
        public void exit() {
            SEQ.setRelease(this, seq + 1);
        }

        boolean inside() {
            return (seq & 1) != 0;
        }
    }

    private final ThreadLocal<Slot> mine = ThreadLocal.withInitial(this::register);
    private volatile Slot[] slots = new Slot[0];
    private final java.util.concurrent.atomic.LongAdder flushes = new java.util.concurrent.atomic.LongAdder();
    private final java.util.concurrent.atomic.LongAdder flushWaits = new java.util.concurrent.atomic.LongAdder();

    /** The calling thread's slot (registered on first use). */
    public Slot slot() {
        return mine.get();
    }

    private synchronized Slot register() {
        Thread me = Thread.currentThread();
        for (Slot s : slots) {
            Thread o = s.owner;
            if (o != null && !o.isAlive() && !s.inside()) {
                s.owner = me;
                return s;
            }
        }
        Slot s = new Slot();
        s.owner = me;
        Slot[] grown = Arrays.copyOf(slots, slots.length + 1);
        grown[grown.length - 1] = s;
        slots = grown;
        return s;
    }

    /**
     * Waits until every accessor that was inside an access when this call began has left it. Call after changing
     * entries and before reusing or copying the frames they named.
     */
    public void flush() {
        flushes.increment();
        for (Slot s : slots) {
            long v = s.seq;
            if ((v & 1) == 0) {
                continue;
            }
            if (s.owner == Thread.currentThread()) {
                throw new IllegalStateException("TLB flush from inside an access would wait for itself");
            }
            flushWaits.increment();
            Backoff backoff = new Backoff();
            while (s.seq == v) {
                Thread o = s.owner;
                if (o != null && !o.isAlive()) {
                    break;
                }
                backoff.idle();
            }
        }
    }

    /** Slots registered so far: threads that have made a byte-moving access (diagnostics and tests). */
    int slotCount() {
        return slots.length;
    }

    long flushCount() {
        return flushes.sum();
    }

    long flushWaitCount() {
        return flushWaits.sum();
    }
}
