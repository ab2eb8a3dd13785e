package dev.hmm.concurrent;

import java.util.concurrent.locks.LockSupport;

/**
 * Bounded waiting for a condition that another thread makes true without notifying: spin a little, then yield,
 * then park for growing intervals (capped at {@link #MAX_PARK_NANOS}). Used where the waited-for party is short and
 * non-blocking (an accessor inside its TLB critical section, a copy stripe finishing), so no wake-up is needed and
 * none can be lost; a waiter never spins unboundedly on the CPU.
 *
 * <p>Not thread-safe: one instance per waiting loop.
 */
public final class Backoff {
    static final int SPINS = 64;
    static final int YIELDS = 16;
    static final long MIN_PARK_NANOS = 1_000;
    static final long MAX_PARK_NANOS = 1_000_000;

    private int round;

    /** One idle step of the wait loop: call it each time the condition was found false. */
    public void idle() {
        int r = round++;
        if (r < SPINS) {
            Thread.onSpinWait();
        } else if (r < SPINS + YIELDS) {
            Thread.yield();
        } else {
            int shift = Math.min(r - SPINS - YIELDS, 10);
            LockSupport.parkNanos(Math.min(MIN_PARK_NANOS << shift, MAX_PARK_NANOS));
        }
    }

    /** Number of idle steps taken so far (diagnostics). */
    public int rounds() {
        return round;
    }
}
