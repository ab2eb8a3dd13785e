package dev.hmm.mm;

import java.util.List;
import org.jctools.queues.MpmcArrayQueue;

/**
 * The driver step of {@code migrate_vma} for the engine's devices, and the range-level migration API: what
 * {@code dmirror_migrate_to_device} / {@code dmirror_devmem_fault} do in {@code lib/test_hmm.c}. A range is migrated
 * in chunks of {@link EngineConfig#migrateBatchPages()} pages; each chunk is one {@link MigrateVma} sequence and one
 * copy-engine batch:
 * <pre>
 *  setup (collect, unmap, flush) -&gt; allocate destinations (one free-list CAS) -&gt; copy batch (copy engine)
 *  -&gt; pages -&gt; finalize
 * </pre>
 * With an asynchronous copy engine (a GPU's, or the simulated device's {@code asyncCopy}) the chunks of one call are
 * pipelined: chunk k+1 is set up, allocated and submitted before chunk k's copy is awaited and it is finalized
 * ({@link Pipeline}; a call's chunk is cut into {@link #PIPELINE_SLICES} slices for it, the first and last of a call
 * halved where they can be).
 * Directions: RAM to a device (private or coherent); a device to RAM; a device to a device of another owner through
 * RAM (a page of owner A asked onto device B is first migrated to RAM by A's copy engine, then to B, as
 * {@code svm_migrate_vram_to_vram} bounces through system memory).
 *
 * <p>Counts every page's final result once ({@code hmm.migrate.results}).
 */
final class Migrator {
    private final HmmEngine engine;
    /**
     * Idle {@link MigrateVma} + {@link CopyBatch} pairs of the engine's batch size, taken by a call and given back when
     * it ends: a 512-page call used to allocate about 15 KB of them. A pool owned by the engine rather than a
     * {@code ThreadLocal}: a thread's map would hold them, and through them the engine, for as long as the thread
     * lives ({@code EngineReleaseTest}). Empty: the call makes a pair; full: the pair is dropped.
     */
    private final MpmcArrayQueue<Scratch> idle =
            new MpmcArrayQueue<>(Math.max(4, 2 * Runtime.getRuntime().availableProcessors()));

    Migrator(HmmEngine engine) {
        this.engine = engine;
    }

    /**
     * One chunk's {@code migrate_vma} state and copy batch, and, between {@link #begin} and {@link #end}, what the
     * chunk needs to be completed: it is the unit a pipelined migration keeps in flight.
     */
    private static final class Scratch {
        final MigrateVma mv;
        final CopyBatch copy;
        final int[] frames;
        final int[] slotPage;
        // the chunk in flight
        AddressSpace mm;
        long cs;
        long ce;
        int base;
        Device engineOwner;
        boolean mapHere;
        long stamp;
        long t0;
        long stampBeforeNext;
        int used;
        long copyT0;
        CopyEngine.Submission submission;

        Scratch(HmmEngine engine, int capacity) {
            mv = new MigrateVma(engine, capacity);
            copy = new CopyBatch(capacity);
            frames = new int[capacity];
            slotPage = new int[capacity];
        }
    }

    /**
     * Slices a pipelined migration cuts each {@code migrate_vma} chunk into: with an asynchronous copy engine, the
     * next slice is collected, unmapped and allocated while the previous one copies, so a call of one full chunk
     * overlaps all but one slice's page-table work with the copy.
     */
    static final int PIPELINE_SLICES = 4;
    /**
     * The smallest slice: below it the per-slice costs (an invalidation, a TLB flush, a hand-off to the copy thread)
     * outweigh the overlap. A 32 x 4 KiB call sliced in 4 ran at half the speed of the same call unsliced.
     */
    static final long MIN_SLICE_BYTES = 256 * 1024;

    private Scratch acquire() {
        Scratch s = idle.poll();
        return s != null ? s : new Scratch(engine, engine.config().migrateBatchPages());
    }

    private void release(Scratch s) {
        idle.offer(s);
    }

    /**
     * Migrates {@code [start, end)} to {@code target} (a device), bouncing other owners' pages through RAM. With a
     * {@code mask} (bit {@code maskBase + i} for page i of the range), only those pages; the others get no result.
     */
    MigrationResult toDevice(AddressSpace mm, long start, long end, Device target, long[] mask, int maskBase) {
        MigrationResult res = newResult(mm, start, end);
        toDevice(acquire(), res, mm, start, end, target, mask, maskBase);
        count(res);
        return res;
    }

    private void toDevice(Scratch sc, MigrationResult res, AddressSpace mm, long start, long end, Device target,
            long[] mask, int maskBase) {
        runPipelined(sc, mm, start, end, target.copyEngine().asynchronous(),
                (cur, cs, ce, base) -> begin(cur, mm, cs, ce, MigrateVma.SELECT_SYSTEM, target.owner(), target.node(),
                        target, mask, maskBase + base, base),
                done -> afterToDevice(done, res, target));
    }

    /** How a pass begins one chunk: {@link #begin} with the pass's selection, owner and target. */
    @FunctionalInterface
    private interface ChunkBegin {
        void begin(Scratch sc, long cs, long ce, int base);
    }

    /**
     * Runs {@code [start, end)} chunk by chunk: each is begun by {@code begin}, ended, then handed to {@code ended}
     * (its results collected), in order; with {@code overlap}, through a {@link Pipeline} of depth two.
     */
    private void runPipelined(Scratch sc, AddressSpace mm, long start, long end, boolean overlap, ChunkBegin begin,
            java.util.function.Consumer<Scratch> ended) {
        Pipeline p = new Pipeline(sc, overlap);
        long chunkBytes = (long) p.chunkPages(sc, mm) << mm.pageShift;
        long firstBytes = p.firstChunkBytes(chunkBytes, end - start, mm);
        try {
            for (long cs = start, ce; cs < end; cs = ce) {
                ce = Math.min(end, cs + (cs == start ? firstBytes : chunkBytes));
                Scratch waiting = p.yieldToWriter(mm);
                if (waiting != null) {
                    end(waiting);
                    ended.accept(waiting);
                }
                Scratch cur = p.next();
                begin.begin(cur, cs, ce, (int) ((cs - start) >>> mm.pageShift));
                Scratch done = p.started(cur);
                if (done != null) {
                    end(done);
                    p.whileInFlight(ended, done);
                }
            }
            Scratch last = p.drain();
            if (last != null) {
                end(last);
                ended.accept(last);
            }
        } catch (RuntimeException | Error e) {
            p.abort(e);
            throw e;
        }
        p.release();
    }

    /**
     * After a chunk to a device: pages another device owns come back to RAM through their owner's copy engine, then
     * go to {@code target} ({@code svm_migrate_vram_to_vram} bounces through system memory). Rare, so synchronous.
     */
    private void afterToDevice(Scratch sc, MigrationResult res, Device target) {
        MigrateVma mv = sc.mv;
        boolean foreign = collect(mv, res, sc.base, false);
        if (!foreign) {
            return;
        }
        AddressSpace mm = sc.mm;
        long cs = sc.cs;
        long ce = sc.ce;
        int base = sc.base;
        // only the foreign pages: a pass over the whole chunk would invalidate (and unmap from the target's mirror)
        // the pages the chunk has just mapped there
        long[] foreignPages = new long[(mv.npages() + 63) >>> 6];
        for (int i = 0; i < mv.npages(); i++) {
            if (res.get(base + i) == MigrateResult.OTHER_OWNER) {
                foreignPages[i >>> 6] |= 1L << (i & 63);
            }
        }
        for (Device other : engine.devices()) {
            if (other != target) {
                runChunk(sc, mm, cs, ce, MigrateVma.SELECT_DEVICE_PRIVATE | MigrateVma.SELECT_DEVICE_COHERENT,
                        other.owner(), engine.ram(), other, foreignPages, 0);
            }
        }
        runChunk(sc, mm, cs, ce, MigrateVma.SELECT_SYSTEM, target.owner(), target.node(), target, foreignPages, 0);
        collect(mv, res, base, true);
    }

    /** Migrates every device page of {@code [start, end)} back to RAM; {@code only} limits it to one device's pages. */
    MigrationResult toRam(AddressSpace mm, long start, long end, Device only) {
        MigrationResult res = newResult(mm, start, end);
        toRam(acquire(), res, mm, start, end, only);
        count(res);
        return res;
    }

    private void toRam(Scratch sc, MigrationResult res, AddressSpace mm, long start, long end, Device only) {
        List<Device> devices = only != null ? List.of(only) : engine.devices();
        if (devices.isEmpty()) {
            long chunkBytes = (long) sc.mv.capacity() << mm.pageShift;
            for (long cs = start; cs < end; cs += chunkBytes) {
                runChunk(sc, mm, cs, Math.min(end, cs + chunkBytes), 0, null, engine.ram(), null, null, 0);
                collect(sc.mv, res, (int) ((cs - start) >>> mm.pageShift), false);
            }
            release(sc); // not after an exception: a failed call may leave the pair half-used
            return;
        }
        // one pass over the range per owner, each pipelined on its own copy engine; a page another owner holds is
        // OTHER_OWNER in this pass and takes its result from its owner's (collect merges)
        for (int k = 0; k < devices.size(); k++) {
            Device d = devices.get(k);
            runPipelined(k == 0 ? sc : acquire(), mm, start, end, d.copyEngine().asynchronous(),
                    (cur, cs, ce, base) -> begin(cur, mm, cs, ce,
                            MigrateVma.SELECT_DEVICE_PRIVATE | MigrateVma.SELECT_DEVICE_COHERENT, d.owner(),
                            engine.ram(), d, null, 0, base),
                    done -> collect(done.mv, res, done.base, true));
        }
    }

    /**
     * The chunks of one call in order, at most two at once when the copy engine is asynchronous: chunk k+1 is begun
     * (collected, unmapped, allocated, its copy submitted) before chunk k is ended (its copy awaited, then finalized),
     * so the page-table work of one overlaps the copy of the other. The chunks are disjoint ranges of one call, so
     * neither touches the other's pages; both hold the mmap read lock (re-entrant). Synchronous engines run one chunk
     * at a time, as before: a pipeline of depth one.
     */
    private final class Pipeline {
        private final Scratch first;
        private final boolean overlap;
        private Scratch second;
        private Scratch inFlight;

        Pipeline(Scratch first, boolean overlap) {
            this.first = first;
            this.overlap = overlap;
        }

        /**
         * Pages per chunk: a {@code migrate_vma} chunk, sliced when chunks overlap (in {@link #PIPELINE_SLICES}, none
         * smaller than {@link #MIN_SLICE_BYTES}).
         */
        int chunkPages(Scratch sc, AddressSpace mm) {
            int capacity = sc.mv.capacity();
            if (!overlap) {
                return capacity;
            }
            long minPages = Math.max(1, MIN_SLICE_BYTES >>> mm.pageShift);
            return (int) Math.min(capacity, Math.max(capacity / PIPELINE_SLICES, minPages));
        }

        /**
         * The first chunk of an overlapped call of more than one chunk is half a chunk, where that half is still at
         * least {@link #MIN_SLICE_BYTES}: nothing copies while the first chunk is begun, nor while the last is ended,
         * so a short first chunk (and, the rest of the call being whole chunks from there, a short last one) shortens
         * both ends of the pipeline. A 512 x 4 KiB call then runs slices of 64, 128, 128, 128 and 64 pages instead of
         * four of 128 (measured in docs/benchmarks.md, "a sixth session").
         */
        long firstChunkBytes(long chunkBytes, long callBytes, AddressSpace mm) {
            long half = (chunkBytes >>> 1) >>> mm.pageShift << mm.pageShift;
            if (!overlap || callBytes <= chunkBytes || half < MIN_SLICE_BYTES) {
                return chunkBytes;
            }
            return half;
        }

        /**
         * The scratch for the next chunk: the one not in flight. Notes the in-flight chunk's invalidation stamp
         * first, for {@link #started}.
         */
        Scratch next() {
            if (inFlight != null && inFlight.stamp >= 0) {
                inFlight.stampBeforeNext = stampOf(inFlight);
            }
            if (inFlight == null || inFlight != first) {
                return first;
            }
            if (second == null) {
                second = acquire();
            }
            return second;
        }

        /**
         * Records that {@code cur} was begun; returns the chunk to end now (the previous one when overlapping,
         * {@code cur} itself when not), or null. Whatever is returned is no longer in flight, so an exception while
         * ending it leaves only the other chunk for {@link #abort}.
         */
        Scratch started(Scratch cur) {
            if (!overlap) {
                return cur;
            }
            Scratch prev = inFlight;
            inFlight = cur;
            if (prev != null && prev.stamp >= 0) {
                // cur's setup invalidated its own range, which shares notifier stripes (2 MiB blocks) with prev's:
                // that changed prev's stamp, and mapMigrated would refuse to map prev's pages. Take the change as
                // ours when nothing else had changed the stamp before it. Whatever else ran during cur's setup cannot
                // have touched prev's pages: their CPU entries are prev's migration entries until prev is finalized,
                // and only their owner replaces a migration entry.
                prev.stamp = prev.stamp == prev.stampBeforeNext ? stampOf(prev) : -1;
            }
            return prev;
        }

        /**
         * Runs {@code ended} on a chunk just ended while the next one is in flight. What it does to the ended chunk's
         * range (a bounce of another owner's pages through RAM invalidates it) bumps the notifier stripes the chunk
         * in flight stamped; that change is taken as the pipeline's own when nothing else had changed the stamp
         * before it, by the argument of {@link #started}: the in-flight chunk's pages are its migration entries.
         */
        void whileInFlight(java.util.function.Consumer<Scratch> ended, Scratch done) {
            Scratch busy = inFlight;
            long before = busy != null && busy.stamp >= 0 ? stampOf(busy) : -1;
            ended.accept(done);
            if (before >= 0 && busy.stamp == before) {
                busy.stamp = stampOf(busy);
            }
        }

        /**
         * The chunk in flight, to be ended before the next is begun, when a thread waits for the mmap lock. Each
         * chunk holds the read lock from its setup to its finalize, so two overlapping chunks would hold it for the
         * whole call; a queued writer (mmap, munmap, mprotect) would wait for all of it, and, since this lock lets a
         * queued writer go first, so would every new fault of the address space. Ending the chunk drops the lock to
         * zero holds between chunks, as the synchronous path does. Null when nothing is to be ended.
         */
        Scratch yieldToWriter(AddressSpace mm) {
            return inFlight != null && mm.mmapLock.hasQueuedThreads() ? drain() : null;
        }

        /** The chunk still in flight after the last was begun, now to be ended. */
        Scratch drain() {
            Scratch last = inFlight;
            inFlight = null;
            return last;
        }

        /** After an exception: ends (rolls back or completes) the chunk still in flight; its own failure is suppressed. */
        void abort(Throwable cause) {
            Scratch s = inFlight;
            inFlight = null;
            if (s != null) {
                try {
                    end(s);
                } catch (RuntimeException | Error e) {
                    cause.addSuppressed(e);
                }
            }
        }

        /** Gives the scratch pairs back (not after an exception: a failed call may leave them half-used). */
        void release() {
            Migrator.this.release(first);
            if (second != null) {
                Migrator.this.release(second);
            }
        }
    }

    private MigrationResult newResult(AddressSpace mm, long start, long end) {
        long pages = (end - start) >>> mm.pageShift;
        if (pages > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("one migration request covers at most 2^31 pages: pages=" + pages);
        }
        return new MigrationResult(start, mm.pageShift, (int) pages);
    }

    /**
     * Copies a chunk's results into {@code res}. With {@code merge}, a page keeps an earlier decisive result (only an
     * unset or {@link MigrateResult#OTHER_OWNER} one is replaced), so multi-owner passes combine.
     *
     * @return whether a page was left as OTHER_OWNER
     */
    private static boolean collect(MigrateVma mv, MigrationResult res, int base, boolean merge) {
        boolean foreign = false;
        for (int i = 0; i < mv.npages(); i++) {
            MigrateResult r = mv.result(i);
            if (r == null) {
                continue; // outside the mask
            }
            MigrateResult old = res.get(base + i);
            if (!merge || old == null || old == MigrateResult.OTHER_OWNER
                    || (old == MigrateResult.ALREADY_ON_TARGET && r == MigrateResult.MIGRATED)) {
                res.set(base + i, r);
            }
            foreign |= res.get(base + i) == MigrateResult.OTHER_OWNER;
        }
        return foreign;
    }

    private void count(MigrationResult res) {
        for (MigrateResult r : MigrateResult.values()) {
            long c = res.count(r);
            if (c > 0) {
                engine.stats.results[r.ordinal()].add(c);
            }
        }
    }

    /**
     * One full {@code migrate_vma} sequence over one chunk. {@code engineOwner} is the device whose copy engine moves
     * the data (the destination device, or the source device on the way back); null when nothing can be collected.
     */
    void runChunk(Scratch sc, AddressSpace mm, long cs, long ce, int select, Object owner, MemoryNode target,
            Device engineOwner, long[] mask, int maskBase) {
        begin(sc, mm, cs, ce, select, owner, target, engineOwner, mask, maskBase, 0);
        end(sc);
    }

    /**
     * The first half of a chunk: setup (collect, unmap, flush), allocate the destinations, submit the copy. On an
     * exception the chunk is finalized (rolled back) before it propagates.
     */
    private void begin(Scratch sc, AddressSpace mm, long cs, long ce, int select, Object owner, MemoryNode target,
            Device engineOwner, long[] mask, int maskBase, int base) {
        sc.t0 = System.nanoTime();
        sc.mm = mm;
        sc.cs = cs;
        sc.ce = ce;
        sc.base = base;
        sc.engineOwner = engineOwner;
        sc.used = 0;
        sc.submission = null;
        MigrateVma mv = sc.mv;
        mv.setup(mm, cs, ce, select, owner, target, mask, maskBase);
        sc.mapHere = target.type().isDevice() && engineOwner != null && engineOwner.node() == target;
        // an invalidation racing with this migration must win over mapping its pages here: stamp after collect
        sc.stamp = sc.mapHere ? engineOwner.mirror(mm).notifier.stamp(cs, ce) : -1;
        try {
            if (mv.cpages() > 0) {
                allocateAndSubmit(sc, target, engineOwner);
            }
        } catch (RuntimeException | Error e) {
            try {
                failUncopied(mv); // nothing was copied: roll every page back
                mv.finalizeMigration();
            } catch (RuntimeException | Error f) {
                e.addSuppressed(f);
            }
            throw e;
        }
    }

    /** The invalidation stamp of a chunk's range in the notifier of the device that will map it. */
    private static long stampOf(Scratch sc) {
        return sc.engineOwner.mirror(sc.mm).notifier.stamp(sc.cs, sc.ce);
    }

    /**
     * Fails every page of a chunk that is still migrating: its copy did not happen (the engine threw), so finalize
     * must restore the sources rather than map destinations that hold no data.
     */
    private static void failUncopied(MigrateVma mv) {
        for (int i = 0; i < mv.npages(); i++) {
            if (MigratePfn.isMigrating(mv.src(i))) {
                mv.fail(i, MigrateResult.COPY_FAILED);
            }
        }
    }

    /** The second half of a chunk: await its copy, then pages, map on the device, finalize. */
    private void end(Scratch sc) {
        MigrateVma mv = sc.mv;
        try {
            try {
                awaitCopy(sc); // Submission.await never throws for a failed page; an engine bug might
            } catch (RuntimeException | Error e) {
                failUncopied(mv);
                throw e;
            }
            mv.pages();
            if (sc.mapHere && sc.stamp >= 0) {
                sc.engineOwner.mapMigrated(mv, sc.stamp); // dmirror_migrate_finalize_and_map
            }
        } finally {
            mv.finalizeMigration();
            engine.stats.migrateNanos.add(System.nanoTime() - sc.t0);
        }
    }

    /**
     * Allocates the destinations of every collected page in one free-list pop and submits them as one copy batch. A
     * chunk has one source node: the selection mask and owner of each pass admit one node's pages (plus holes, which
     * are zero-filled).
     */
    private void allocateAndSubmit(Scratch sc, MemoryNode target, Device engineOwner) {
        MigrateVma mv = sc.mv;
        CopyBatch copy = sc.copy;
        int n = mv.npages();
        int[] frames = sc.frames;
        int want = mv.cpages();
        int got = target == engine.ram() ? engine.allocateRam(frames, 0, want) // page-cache reclaim
                : target.allocate(frames, 0, want);
        DeviceReclaim reclaim = engineOwner != null && engineOwner.node() == target ? engineOwner.reclaim : null;
        if (reclaim != null) {
            if (got < want) {
                got += reclaim.reclaimAndAllocate(frames, got, want - got); // direct reclaim
            }
            reclaim.afterAllocation();
        }
        MigrateResult noFrame = target.type().isDevice() ? MigrateResult.OUT_OF_DEVICE_MEMORY : MigrateResult.OUT_OF_RAM;
        int srcNode = -1;
        for (int i = 0; i < n && srcNode < 0; i++) {
            long s = mv.src(i);
            if (MigratePfn.isMigrating(s) && MigratePfn.isValid(s)) {
                srcNode = Pfn.node(MigratePfn.pfn(s));
            }
        }
        copy.reset(srcNode < 0 ? engine.ram().store : engine.node(srcNode).store, target.store);
        int[] slotPage = sc.slotPage;
        int used = 0;
        for (int i = 0; i < n; i++) {
            long s = mv.src(i);
            if (!MigratePfn.isMigrating(s)) {
                continue;
            }
            if (used == got) {
                mv.fail(i, noFrame);
                continue;
            }
            int di = frames[used];
            mv.setDst(i, MigratePfn.of(Pfn.of(target.id(), di)));
            if (MigratePfn.isValid(s)) {
                long spfn = MigratePfn.pfn(s);
                if (Pfn.node(spfn) != srcNode) {
                    throw new IllegalStateException("migrate_vma chunk collected pages of two nodes: "
                            + srcNode + " and " + Pfn.node(spfn));
                }
                copy.add(Pfn.index(spfn), di);
            } else {
                copy.add(CopyBatch.FILL, di);
            }
            slotPage[used++] = i;
        }
        sc.used = used;
        if (used == 0) {
            return;
        }
        sc.copyT0 = copy.hasData() ? System.nanoTime() : 0; // a METADATA batch is not timed (HmmStats#copy)
        sc.submission = engineOwner.copyEngine().submit(copy);
    }

    /** Waits for a chunk's copy, records it, and fails the pages the engine could not copy. */
    private void awaitCopy(Scratch sc) {
        CopyEngine.Submission sub = sc.submission;
        if (sub == null) {
            return;
        }
        sc.submission = null;
        sub.await();
        CopyBatch copy = sc.copy;
        engine.stats.recordBatch(copy.count(), sc.copyT0 != 0 ? System.nanoTime() - sc.copyT0 : 0);
        if (copy.failures() > 0) {
            for (int k = 0; k < sc.used; k++) {
                if (copy.failed(k)) {
                    sc.mv.fail(sc.slotPage[k], MigrateResult.COPY_FAILED);
                }
            }
        }
    }
}
