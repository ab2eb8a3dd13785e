package dev.hmm.mm;

import dev.hmm.concurrent.Backoff;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.jctools.queues.MpscArrayQueue;

/**
 * A device's replayable fault buffer and its servicing thread (UVM's {@code parent_gpu->fault_buffer} and bottom
 * half). Accessors that miss in the device's mirror write a {@link FaultRecord} into a bounded JCTools
 * {@link MpscArrayQueue} and wait for replay; one thread per device drains and services it in {@link FaultBatch}es.
 *
 * <h2>Back-pressure</h2>
 * A producer never drops a fault: when the buffer is full it wakes the servicer and waits ({@link Backoff}) until its
 * record fits, counting the wait ({@code hmm.fault.buffer.full}).
 *
 * <h2>The servicing role (combining)</h2>
 * Whoever holds the role ({@code servicing}: 0 free, 1 held; taken by CAS, given back by a volatile store) owns the
 * {@link FaultBatch} and drains the buffer. The servicing thread takes it for each pass. With
 * {@link FaultServiceConfig#faultingThreadServices()}, an accessor that has offered its faults also tries to take it:
 * if it wins, it runs passes until its own faults are replayed (servicing whatever else is queued ahead of them, in
 * order), then gives the role back; if it loses, it wakes the servicing thread and waits, as without combining.
 * A lone accessor so services its faults on its own thread, sparing the hand-off to the servicer and back (two
 * cross-core wake-ups, microseconds each), while batches, policies and counters stay exactly as the servicing thread
 * would make them. The role's CAS and store order the batch state between holders (release/acquire).
 * <p>
 * Invariant: every record offered is drained by a role holder. An accessor that lost the role has woken the servicing
 * thread after its offer, and the servicing thread parks only after seeing the buffer empty with {@code idle} set
 * (below), so a record offered while an accessor held the role is never stranded once the role is given back.
 *
 * <h2>Servicer parking</h2>
 * The servicer with nothing to do sets {@code idle} (volatile), rechecks the queue, parks; a producer offers (a
 * volatile CAS on the producer index) and then unparks the servicer if {@code idle}: no lost wake-up.
 */
final class FaultBuffer implements Runnable {
    private final Device device;
    private final HmmEngine engine;
    private final MpscArrayQueue<FaultRecord> queue;
    private final FaultBatch batch;
    private final Thread thread;
    private final AtomicInteger accessorIds = new AtomicInteger();
    private final ThreadLocal<FaultRecord[]> records;
    private final boolean faultingThreadServices;
    private volatile boolean idle;
    private volatile boolean closed;
    /** The servicing role: 0 free, 1 held (see the class comment). */
    private volatile int servicing;
    private static final VarHandle SERVICING;

    static {
        try {
            SERVICING = MethodHandles.lookup().findVarHandle(FaultBuffer.class, "servicing", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    FaultBuffer(Device device, HmmEngine engine, FaultServiceConfig config) {
        this.device = device;
        this.engine = engine;
        this.queue = new MpscArrayQueue<>(config.bufferEntries());
        this.batch = new FaultBatch(device, engine, config, queue);
        this.faultingThreadServices = config.faultingThreadServices();
        this.records = ThreadLocal.withInitial(() -> new FaultRecord[] {new FaultRecord(accessorIds.getAndIncrement())});
        this.thread = Thread.ofPlatform().daemon().name("hmm-faults-" + device.name()).unstarted(this);
        thread.start();
    }

    /** Raises a fault for the page at {@code pageVa} and waits until it is replayed; rethrows a fatal fault. */
    void raise(AddressSpace mm, long pageVa, AccessType access) {
        raiseAll(mm, new long[] {pageVa}, 1, access);
    }

    /**
     * Raises faults for {@code n} pages at once, as a warp whose lanes miss on several pages does, and waits until
     * all are replayed; rethrows the first fatal fault. One record per outstanding fault, reused by this thread.
     */
    void raiseAll(AddressSpace mm, long[] pageVas, int n, AccessType access) {
        if (closed) {
            throw new IllegalStateException("device " + device.name() + " is detached");
        }
        FaultRecord[] rs = records.get();
        if (rs.length < n) {
            FaultRecord[] grown = java.util.Arrays.copyOf(rs, Math.max(n, rs.length * 2));
            for (int k = rs.length; k < grown.length; k++) {
                grown[k] = new FaultRecord(rs[0].accessor);
            }
            records.set(grown);
            rs = grown;
        }
        long t0 = System.nanoTime();
        engine.stats.deviceFaults.add(n);
        for (int k = 0; k < n; k++) {
            rs[k].set(mm, pageVas[k], access);
        }
        if (n == 1) {
            offer(rs[0]);
        } else {
            offerAll(rs, n);
        }
        if (faultingThreadServices && tryService()) {
            try {
                do {
                    batch.pass(); // FIFO: the records ahead of ours first, then ours
                } while (batch.hasCarry() || anyPending(rs, n));
            } finally {
                endService();
            }
        } else {
            wake();
        }
        RuntimeException error = null;
        for (int k = 0; k < n; k++) {
            rs[k].awaitReplay();
            if (error == null) {
                error = rs[k].error;
            }
            // the records stay in this thread's map: once replayed (the servicer is done with them) they must not
            // reach the address space, or they would keep the whole engine alive after close (EngineReleaseTest)
            rs[k].mm = null;
            rs[k].error = null;
        }
        engine.stats.recordFaultWait(System.nanoTime() - t0);
        if (error != null) {
            throw error;
        }
    }

    private static boolean anyPending(FaultRecord[] rs, int n) {
        for (int k = 0; k < n; k++) {
            if (rs[k].pending) {
                return true;
            }
        }
        return false;
    }

    private boolean tryService() {
        return servicing == 0 && SERVICING.compareAndSet(this, 0, 1);
    }

    private void endService() {
        servicing = 0; // volatile store: the next holder sees the batch as this one left it
    }

    private void offer(FaultRecord r) {
        if (queue.offer(r)) {
            return;
        }
        engine.stats.faultBufferFullWaits.increment();
        Backoff backoff = new Backoff();
        do {
            wake();
            backoff.idle();
            if (closed) {
                throw new IllegalStateException("device " + device.name() + " is detached");
            }
        } while (!queue.offer(r));
    }

    /**
     * Offers {@code rs[0..n)} in order, claiming as many slots as fit with one CAS of the producer index
     * ({@code MpscArrayQueue.fill}) instead of one CAS per record: a warp's faults enter the buffer together, as UVM's
     * hardware writes a batch of entries and moves the put pointer once. A full buffer waits as {@link #offer} does.
     */
    private void offerAll(FaultRecord[] rs, int n) {
        int[] next = {0};
        org.jctools.queues.MessagePassingQueue.Supplier<FaultRecord> records = () -> rs[next[0]++];
        Backoff backoff = null;
        while (next[0] < n) {
            if (queue.fill(records, n - next[0]) > 0) {
                continue;
            }
            if (backoff == null) {
                engine.stats.faultBufferFullWaits.increment();
                backoff = new Backoff();
            }
            wake();
            backoff.idle();
            if (closed) {
                throw new IllegalStateException("device " + device.name() + " is detached");
            }
        }
    }

    private void wake() {
        if (idle) {
            LockSupport.unpark(thread);
        }
    }

    /** Spins of the servicing thread on an empty buffer before it parks (a few microseconds). */
    private static final int IDLE_SPINS = 1 << 13;
    /** One spin in this many yields the core (a no-op when nobody else wants it). */
    static final int YIELD_MASK = 63;

    @Override
    public void run() {
        while (!closed) {
            if (tryService()) {
                int drained;
                boolean carry;
                try {
                    drained = batch.pass();
                    carry = batch.hasCarry();
                } finally {
                    endService();
                }
                if (drained > 0 || carry) {
                    continue;
                }
            }
            // spin a little before parking: a replayed accessor usually faults again within microseconds, and an
            // unpark costs tens of them (UVM's servicer likewise polls the buffer's put pointer before sleeping)
            // yielding now and then: on a machine with fewer cores than busy threads (CI, a laptop running a storm)
            // a pure spin would hold the core the accessor needs to raise its next fault
            // (also while an accessor holds the role: it services what is queued, or gives the role back soon)
            for (int spin = 0; spin < IDLE_SPINS && (queue.isEmpty() || servicing != 0) && !closed; spin++) {
                if ((spin & YIELD_MASK) == YIELD_MASK) {
                    Thread.yield();
                } else {
                    Thread.onSpinWait();
                }
            }
            if (!queue.isEmpty()) {
                continue;
            }
            idle = true;
            if (queue.isEmpty() && !closed) {
                LockSupport.park(this);
            }
            idle = false;
        }
    }

    int pending() {
        return queue.size();
    }

    void close() {
        closed = true;
        LockSupport.unpark(thread);
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        // take the role for good (an accessor servicing finishes first) and fail what nobody will service now
        while (!tryService()) {
            Thread.onSpinWait();
        }
        IllegalStateException detached = new IllegalStateException("device " + device.name() + " is detached");
        batch.abandon(detached);
        for (FaultRecord r; (r = queue.poll()) != null;) {
            r.error = detached;
            r.replay();
        }
    }
}
