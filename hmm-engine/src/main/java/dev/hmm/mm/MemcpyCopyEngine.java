package dev.hmm.mm;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.jctools.queues.MpmcArrayQueue;
import org.jctools.queues.MpscArrayQueue;

/**
 * A copy engine that copies with the CPU ({@link MemorySegment#copy}) on a configurable number of threads. Usable by
 * any backend whose stores are host-addressable (the simulated device, RAM, persistent memory). Two modes:
 * <ul>
 * <li>synchronous ({@link #MemcpyCopyEngine(String, int, CopyFaultInjector)}): the submitting thread plus
 *     {@code threads - 1} workers, as a CPU copy inside {@code migrate_vma} ({@code lib/test_hmm.c} copies with
 *     {@code memcpy});</li>
 * <li>asynchronous ({@link #dedicated}): {@code threads} workers of its own, the model of a GPU's copy engine (a DMA
 *     engine beside the CPU). {@link #submit} hands the stripes to the workers and returns, so the engine's
 *     {@code migrate_vma} overlaps the next chunk's page-table work with this chunk's copy; the submitter copies
 *     nothing of a batch of {@link #INLINE_BYTES} or more, so "{@code n} copy threads" means {@code n} threads moving
 *     bytes. Smaller batches (a fault's few pages) are copied by the submitter: a hand-off costs more.</li>
 * </ul>
 *
 * <h2>Work flow</h2>
 * A batch of {@code n} pages is cut into at most {@code threads} contiguous stripes of at least
 * {@value #MIN_STRIPE_BYTES} bytes. When a batch has fewer pages than stripes (one 2 MiB page, two copy threads),
 * each page is cut into a power of two of equal pieces and the stripes are runs of pieces, so that a huge page moves
 * on every copy thread (as a GPU's copy engines split one large transfer); otherwise a stripe is a run of whole
 * pages. Stripes 1..k-1 go to the workers through a JCTools {@link MpmcArrayQueue}; the
 * submitter copies stripe 0 itself (caller-runs: a one-page fault copy never pays a thread hand-off), then helps with
 * queued stripes until the workers' completion notices, posted to the batch's {@link MpscArrayQueue}, have all
 * arrived. Runs of pages contiguous in both stores are copied with one {@code memcpy}.
 *
 * <h2>Worker parking</h2>
 * A worker with nothing to do sets {@code idle} (volatile), re-polls the queue, then parks; a submitter offers its
 * stripes (volatile) and then unparks every worker whose {@code idle} is set. Either the worker's re-poll sees the
 * stripe or the submitter sees {@code idle}: no lost wake-up.
 */
public final class MemcpyCopyEngine implements CopyEngine {
    static final long MIN_STRIPE_BYTES = 128 * 1024;
    /**
     * Asynchronous mode: batches smaller than this are copied by the submitting thread, before {@link #submit}
     * returns. Handing a fault's copy to a worker costs more than the copy (a wake-up, often an unpark, and a waiter
     * spinning beside it): on 2 cores a 256 MiB {@code ./hmm simulate} ping-pong (a CPU fault per page, a device
     * fault batch per 16 pages) took 1.8x as long with every copy handed off, 1.6x with batches under 64 KiB
     * copied here, and the same time as the synchronous engine with this bound. It equals
     * {@code Migrator.MIN_SLICE_BYTES}, so the slices of a pipelined migration are always handed off.
     */
    static final long INLINE_BYTES = 256 * 1024;

    private final String name;
    private final int threads;
    private final Worker[] workers;
    private final MpmcArrayQueue<Stripe> work;
    private final CopyFaultInjector injector;
    private final AtomicLong batchSeq = new AtomicLong();
    private final boolean dedicated;
    private volatile boolean closed;

    public MemcpyCopyEngine(String name, int threads) {
        this(name, threads, CopyFaultInjector.NONE);
    }

    /** A synchronous engine: the submitting thread copies, helped by {@code threads - 1} workers. */
    public MemcpyCopyEngine(String name, int threads, CopyFaultInjector injector) {
        this(name, threads, injector, false);
    }

    /** An asynchronous engine of {@code threads} copy threads of its own (see the class). */
    public static MemcpyCopyEngine dedicated(String name, int threads, CopyFaultInjector injector) {
        return new MemcpyCopyEngine(name, threads, injector, true);
    }

    private MemcpyCopyEngine(String name, int threads, CopyFaultInjector injector, boolean dedicated) {
        if (threads < 1) {
            throw new IllegalArgumentException("copy threads must be at least 1: threads=" + threads);
        }
        this.name = name;
        this.threads = threads;
        this.injector = injector;
        this.dedicated = dedicated;
        this.work = new MpmcArrayQueue<>(Math.max(64, threads * 64));
        this.workers = new Worker[dedicated ? threads : threads - 1];
        for (int k = 0; k < workers.length; k++) {
            workers[k] = new Worker(name + "-copy-" + (k + 1));
            workers[k].thread.start();
        }
    }

    @Override
    public int threads() {
        return threads;
    }

    @Override
    public boolean asynchronous() {
        return dedicated;
    }

    @Override
    public void copy(CopyBatch batch) {
        if (dedicated) {
            submit(batch).await();
            return;
        }
        int n = batch.count();
        if (n == 0) {
            return;
        }
        checkOpen();
        long seq = batchSeq.getAndIncrement();
        if (!batch.source().hasData() || !batch.destination().hasData()) {
            injectOnly(batch, seq);
            return;
        }
        int wanted = stripes(batch);
        if (wanted <= 1) {
            copyRange(batch, seq, 0, n, 0);
            return;
        }
        int shift = pieceShift(n, wanted);
        int units = n << shift;
        int per = (units + wanted - 1) / wanted;
        int stripes = (units + per - 1) / per;
        Completion done = new Completion(this, stripes - 1, true);
        for (int s = 1; s < stripes; s++) {
            int lo = s * per;
            Stripe st = new Stripe(batch, seq, lo, Math.min(units, lo + per), shift, done);
            while (!work.offer(st)) {
                runOne(); // queue full: help drain it
            }
        }
        wakeIdleWorkers();
        copyRange(batch, seq, 0, per, shift);
        done.await();
    }

    /** How many stripes a batch is worth: one per copy thread, each of at least {@value #MIN_STRIPE_BYTES} bytes. */
    private int stripes(CopyBatch batch) {
        return (int) Math.min(threads, Math.max(1, batch.bytes() / MIN_STRIPE_BYTES));
    }

    /**
     * log2 of the pieces each page is cut into: 0 (whole pages) when the batch has at least as many pages as
     * stripes, else the least power of two that gives every stripe a piece. A piece is at least
     * {@value #MIN_STRIPE_BYTES} bytes, since {@link #stripes} gives no more stripes than the batch has such blocks,
     * and a whole number of bytes, since page sizes are powers of two.
     */
    static int pieceShift(int pages, int stripes) {
        if (pages >= stripes) {
            return 0;
        }
        int pieces = (stripes + pages - 1) / pages;
        return 32 - Integer.numberOfLeadingZeros(pieces - 1);
    }

    /**
     * Asynchronous mode: cuts the batch into at most {@code threads} stripes, queues them all for the workers and
     * returns; the handle waits for their completion notices without copying (the submitter is the CPU, not the copy
     * engine). Synchronous mode: copies, then returns {@link Submission#DONE}.
     */
    @Override
    public Submission submit(CopyBatch batch) {
        if (!dedicated) {
            copy(batch);
            return Submission.DONE;
        }
        int n = batch.count();
        if (n == 0) {
            return Submission.DONE;
        }
        checkOpen();
        long seq = batchSeq.getAndIncrement();
        if (!batch.source().hasData() || !batch.destination().hasData()) {
            injectOnly(batch, seq); // METADATA: no bytes, so no reason to hand anything to a worker
            return Submission.DONE;
        }
        if (batch.bytes() < INLINE_BYTES) {
            copyRange(batch, seq, 0, n, 0);
            return Submission.DONE;
        }
        int wanted = stripes(batch);
        int shift = pieceShift(n, wanted);
        int units = n << shift;
        int per = (units + wanted - 1) / wanted;
        int stripes = (units + per - 1) / per;
        Completion done = new Completion(this, stripes, false);
        for (int s = 0; s < stripes; s++) {
            int lo = s * per;
            Stripe st = new Stripe(batch, seq, lo, Math.min(units, lo + per), shift, done);
            while (!work.offer(st)) {
                wakeIdleWorkers(); // queue full: the workers drain it, so none may sleep meanwhile
                Thread.onSpinWait();
            }
        }
        wakeIdleWorkers();
        return done;
    }

    private void wakeIdleWorkers() {
        for (Worker w : workers) {
            if (w.idle) {
                LockSupport.unpark(w.thread);
            }
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("copy engine " + name + " is closed");
        }
    }

    /** METADATA plane: nothing to move; failures are still injected so rollback paths run the same. */
    private void injectOnly(CopyBatch batch, long seq) {
        for (int i = 0, n = batch.count(); i < n; i++) {
            if (injector.shouldFail(seq, i, batch.srcIndex(i), batch.dstIndex(i))) {
                batch.fail(i);
            }
        }
    }

    /** Runs one queued stripe (any batch's); false if the queue was empty. */
    private boolean runOne() {
        Stripe st = work.poll();
        if (st == null) {
            return false;
        }
        run(st);
        return true;
    }

    private void run(Stripe st) {
        try {
            copyRange(st.batch, st.seq, st.lo, st.hi, st.shift);
        } catch (RuntimeException | Error e) {
            for (int i = st.lo >>> st.shift, last = (st.hi - 1) >>> st.shift; i <= last; i++) {
                st.batch.fail(i);
            }
        } finally {
            // release: the stripe's copies happen-before the submitter's poll of this notice
            while (!st.done.notices.offer(st)) {
                Thread.onSpinWait();
            }
        }
    }

    /** Copies units {@code [lo, hi)} of the batch: pages when {@code shift} is 0, else pieces of pages. */
    private void copyRange(CopyBatch b, long seq, int lo, int hi, int shift) {
        if (shift == 0) {
            copyPages(b, seq, lo, hi);
        } else {
            copyPieces(b, seq, lo, hi, shift);
        }
    }

    /**
     * Copies pieces {@code [lo, hi)}: piece {@code u} is the {@code (u mod 2^shift)}-th of the {@code 2^shift} equal
     * parts of page {@code u >>> shift}. The stripe that holds a page's first piece asks the injector about that page, so it is
     * still asked once per page; the other pieces of a failed page are copied all the same, and rollback discards them.
     */
    private void copyPieces(CopyBatch b, long seq, int lo, int hi, int shift) {
        MemorySegment src = b.source().memory();
        MemorySegment dst = b.destination().memory();
        long ps = b.pageSize();
        long piece = ps >>> shift;
        int u = lo;
        while (u < hi) {
            int i = u >>> shift;
            int first = u - (i << shift);
            int end = Math.min(hi - (i << shift), 1 << shift); // this stripe's pieces of page i: [first, end)
            int s = b.srcIndex(i);
            int d = b.dstIndex(i);
            long off = first * piece;
            long len = (end - first) * piece;
            if (first == 0 && injector.shouldFail(seq, i, s, d)) {
                len /= 2; // as copyPages: the destination holds part of a copy, which rollback must discard
                b.fail(i);
            }
            if (s == CopyBatch.FILL) {
                dst.asSlice(d * ps + off, len).fill((byte) 0);
            } else {
                MemorySegment.copy(src, s * ps + off, dst, d * ps + off, len);
            }
            u = (i << shift) + end;
        }
    }

    private void copyPages(CopyBatch b, long seq, int lo, int hi) {
        MemorySegment src = b.source().memory();
        MemorySegment dst = b.destination().memory();
        long ps = b.pageSize();
        int i = lo;
        int wanted = -1; // a page the injector already chose while a run was extended: it is asked once per page
        while (i < hi) {
            int s = b.srcIndex(i);
            int d = b.dstIndex(i);
            if (i == wanted || injector.shouldFail(seq, i, s, d)) {
                // fail in the middle of the page: the destination holds half a copy, which rollback must discard
                if (s == CopyBatch.FILL) {
                    dst.asSlice(d * ps, ps / 2).fill((byte) 0);
                } else {
                    MemorySegment.copy(src, s * ps, dst, d * ps, ps / 2);
                }
                b.fail(i);
                i++;
                continue;
            }
            if (s == CopyBatch.FILL) {
                dst.asSlice(d * ps, ps).fill((byte) 0);
                i++;
                continue;
            }
            // extend over a run contiguous in both stores, unless the injector wants a page of it
            int j = i + 1;
            while (j < hi && b.srcIndex(j) == s + (j - i) && b.dstIndex(j) == d + (j - i)) {
                if (injector.shouldFail(seq, j, b.srcIndex(j), b.dstIndex(j))) {
                    wanted = j;
                    break;
                }
                j++;
            }
            MemorySegment.copy(src, s * ps, dst, d * ps, (j - i) * ps);
            i = j;
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Worker w : workers) {
            LockSupport.unpark(w.thread);
        }
        for (Worker w : workers) {
            try {
                w.thread.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private static final class Stripe {
        final CopyBatch batch;
        final long seq;
        final int lo; // units: pages, or pieces of pages when shift > 0
        final int hi;
        final int shift; // log2 of the pieces per page
        final Completion done;

        Stripe(CopyBatch batch, long seq, int lo, int hi, int shift, Completion done) {
            this.batch = batch;
            this.seq = seq;
            this.lo = lo;
            this.hi = hi;
            this.shift = shift;
            this.done = done;
        }
    }

    /**
     * Completion notices of one batch: workers offer, the submitter polls (many-to-one). {@link #await} spins, then
     * yields, then parks briefly: the copy it waits for is tens of microseconds, shorter than a timed park's slack
     * (about 50 us on Linux, more on a virtual machine), and a worker posts its notice without waking anyone. A
     * synchronous submitter ({@code helping}) runs queued stripes itself while it waits, so a stripe that no worker
     * has taken yet never waits for one to wake up. Once the engine is closed its workers are gone (or going), so an
     * asynchronous waiter runs what is still queued too: a batch submitted just before {@link #close} is never left
     * without a thread to copy it.
     *
     * <p>The synchronous wait once used {@link dev.hmm.concurrent.Backoff}, whose first parks (1 us asked) slept for
     * the timer slack: with two copy threads on a 2-core virtual machine a 512 x 4 KiB copy took 112-119 us at p50
     * against 40 us on one thread (docs/benchmarks.md, "Two copy threads").
     */
    private static final class Completion implements Submission {
        private static final int SPINS = 1 << 12;
        private static final int YIELDS = 1 << 14;
        final MpscArrayQueue<Stripe> notices;
        final MemcpyCopyEngine engine;
        final boolean helping;
        int remaining; // submitter only

        Completion(MemcpyCopyEngine engine, int expected, boolean helping) {
            this.engine = engine;
            this.helping = helping;
            this.notices = new MpscArrayQueue<>(Math.max(2, expected));
            this.remaining = expected;
        }

        @Override
        public void await() {
            int idle = 0;
            boolean interrupted = false;
            while (remaining > 0) {
                if (notices.poll() != null) {
                    remaining--;
                } else if ((helping || engine.closed) && engine.runOne()) {
                    idle = 0;
                } else if (++idle < SPINS) {
                    Thread.onSpinWait();
                } else if (idle < SPINS + YIELDS) {
                    Thread.yield();
                } else {
                    // uninterruptible, as a migration cannot stop half-copied: park returns at once while the
                    // interrupt flag is set, so clear it for the wait (or this loop spins) and restore it after
                    LockSupport.parkNanos(50_000);
                    interrupted |= Thread.interrupted();
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private final class Worker implements Runnable {
        final Thread thread;
        volatile boolean idle;

        Worker(String threadName) {
            this.thread = Thread.ofPlatform().name(threadName).daemon().unstarted(this);
        }

        @Override
        public void run() {
            int spins = 0;
            while (!closed) {
                Stripe st = work.poll();
                if (st != null) {
                    spins = 0;
                    MemcpyCopyEngine.this.run(st);
                    continue;
                }
                // a worker waits a while before it parks: its submitter's next batch is usually a page-table pass
                // away, and on a virtual machine an unpark costs the submitter about 8 us and the worker wakes about
                // 24 us later, more than a 128 KiB stripe takes to copy. It yields rather than spins for most of that
                // wait, so that on a machine with fewer cores than busy threads the submitter (who makes the next
                // batch) gets the core
                if (++spins < 256) {
                    Thread.onSpinWait();
                    continue;
                }
                if (spins < 256 + 512) {
                    Thread.yield();
                    continue;
                }
                idle = true;
                if (work.isEmpty() && !closed) {
                    LockSupport.park(this);
                }
                idle = false;
                spins = 0;
            }
        }
    }
}
