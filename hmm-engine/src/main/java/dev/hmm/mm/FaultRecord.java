package dev.hmm.mm;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.locks.LockSupport;

/**
 * One entry of a device's fault buffer (a UVM fault buffer entry: address, access type, the faulting accessor).
 * Each accessor thread owns one record and has at most one fault outstanding, as a stalled warp does; the record is
 * reused, so raising a fault allocates nothing.
 *
 * <h2>Replay protocol</h2>
 * <pre>
 *  accessor                                       servicer
 *  pending = true; offer(record)                  ... service ...
 *  spin while pending; then parked = true (1)     pending = false            (3, volatile)
 *  if pending (2): park; parked = false; loop     if parked (4): unpark(waiter)
 * </pre>
 * (1)(2) and (3)(4) are volatile: either the accessor sees {@code pending} cleared, or the servicer sees
 * {@code parked} and unparks it; a spinning accessor costs the servicer no unpark. An accessor that services its own
 * record (combining) clears {@code pending} with a plain release store: it is running, so nobody is parked on it.
 * Raising sets {@code pending} with a release store: the queue's offer that follows is the fence that publishes it.
 */
final class FaultRecord {
    private static final int SPINS = 2_000;
    private static final VarHandle PENDING;

    static {
        try {
            PENDING = MethodHandles.lookup().findVarHandle(FaultRecord.class, "pending", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final Thread waiter = Thread.currentThread();
    final int accessor;
    AddressSpace mm;
    long va;
    AccessType access;
    RuntimeException error;
    volatile boolean pending;
    private volatile boolean parked;

    FaultRecord(int accessor) {
        this.accessor = accessor;
    }

    void set(AddressSpace mm, long va, AccessType access) {
        this.mm = mm;
        this.va = va;
        this.access = access;
        this.error = null;
        // release, not volatile: the record reaches a servicer only through the queue's offer (a CAS, then a release
        // store of the element), which orders this store before the servicer's poll
        PENDING.setRelease(this, true);
    }

    /** Accessor side: waits until replayed. */
    void awaitReplay() {
        for (int i = 0; i < SPINS; i++) {
            if (!pending) {
                return;
            }
            if ((i & FaultBuffer.YIELD_MASK) == FaultBuffer.YIELD_MASK) {
                Thread.yield(); // the servicer may be waiting for this core
            } else {
                Thread.onSpinWait();
            }
        }
        boolean interrupted = false;
        while (pending) {
            parked = true;
            if (pending) {
                LockSupport.park(this);
                // a fault cannot be abandoned half-serviced: wait on with the flag cleared (park returns at once
                // while it is set, so this loop would spin) and give it back at the end
                interrupted |= Thread.interrupted();
            }
            parked = false;
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Servicer side: the access may be retried. */
    void replay() {
        if (waiter == Thread.currentThread()) {
            PENDING.setRelease(this, false); // combining: its own record; a running waiter is not parked
            return;
        }
        pending = false;
        if (parked) {
            LockSupport.unpark(waiter);
        }
    }
}
