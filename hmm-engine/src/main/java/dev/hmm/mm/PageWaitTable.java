package dev.hmm.mm;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongPredicate;

/**
 * Where accessors sleep while a page is under migration ({@code migration_entry_wait} on the hashed
 * {@code folio_wait_table}). Waiters are keyed by the source pfn named in the migration entry; the migration that
 * replaces the entry wakes that key's bucket ({@link #wake}) after the store.
 *
 * <h2>Protocol (no lost wake-up, no unbounded spinning)</h2>
 * <pre>
 *  waiter                                       waker (migrate_vma finalize)
 *  push(node) onto bucket   (CAS, volatile) (1) casPte(migration entry -&gt; final entry) (3, volatile)
 *  if !stillWaiting(lvPte)  -&gt; return      (2) xchg(bucket, null)                      (4, volatile)
 *  park; loop                                   for each node: woken = true; unpark(thread)
 * </pre>
 * Volatile accesses are totally ordered: either (2) sees the final entry, or (4) sees the node pushed at (1) and
 * unparks it. A woken node is not reused (the waiter pushes a fresh one if it must wait again), so the stack never
 * holds a node twice. Buckets are shared by hashing, so a wake-up may be for another page: waiters recheck.
 */
final class PageWaitTable {
    private static final VarHandle HEAD = MethodHandles.arrayElementVarHandle(Waiter[].class);
    private static final int BUCKETS = 256;

    static final class Waiter {
        final Thread thread = Thread.currentThread();
        Waiter next;
        volatile boolean woken;
    }

    private final Waiter[] buckets = new Waiter[BUCKETS];
    private final java.util.concurrent.atomic.LongAdder waits = new java.util.concurrent.atomic.LongAdder();
    private final java.util.concurrent.atomic.LongAdder waitNanos = new java.util.concurrent.atomic.LongAdder();

    private static int bucket(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        return (int) (h >>> 56) & (BUCKETS - 1);
    }

    /**
     * Sleeps until {@code stillWaiting} is false. {@code stillWaiting} must read the awaited word with a volatile (or
     * acquire) load; it is evaluated after this thread is visible to wakers.
     */
    void await(long key, LongPredicate stillWaiting, long arg) {
        int b = bucket(key);
        long t0 = System.nanoTime();
        waits.increment();
        Waiter node = null;
        boolean interrupted = false;
        try {
            for (;;) {
                if (node == null || node.woken) {
                    node = new Waiter();
                    push(b, node);
                }
                if (!stillWaiting.test(arg)) {
                    return;
                }
                LockSupport.park(this);
                // uninterruptible, as wait_on_page_locked is: park returns at once while the interrupt flag is
                // set, so clear it for the wait (or this loop spins) and give it back when the wait ends
                interrupted |= Thread.interrupted();
            }
        } finally {
            waitNanos.add(System.nanoTime() - t0);
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void push(int b, Waiter node) {
        for (;;) {
            Waiter h = (Waiter) HEAD.getVolatile(buckets, b);
            node.next = h;
            if (HEAD.compareAndSet(buckets, b, h, node)) {
                return;
            }
        }
    }

    /** Wakes every waiter of {@code key}'s bucket. Call after the store that ends the wait. Cheap when none waits. */
    void wake(long key) {
        int b = bucket(key);
        if (HEAD.getVolatile(buckets, b) == null) {
            return;
        }
        Waiter w = (Waiter) HEAD.getAndSet(buckets, b, (Waiter) null);
        while (w != null) {
            Waiter next = w.next;
            w.woken = true;
            LockSupport.unpark(w.thread);
            w = next;
        }
    }

    long waitCount() {
        return waits.sum();
    }

    long waitNanos() {
        return waitNanos.sum();
    }
}
