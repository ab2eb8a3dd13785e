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

    private static final class Scratch {
        final MigrateVma mv;
        final CopyBatch copy;

        Scratch(HmmEngine engine, int capacity) {
            mv = new MigrateVma(engine, capacity);
            copy = new CopyBatch(capacity);
        }
    }

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
        Scratch sc = acquire();
        toDevice(sc.mv, sc.copy, res, mm, start, end, target, mask, maskBase);
        release(sc); // not after an exception: a failed call may leave the pair half-used
        count(res);
        return res;
    }

    private void toDevice(MigrateVma mv, CopyBatch copy, MigrationResult res, AddressSpace mm, long start, long end,
            Device target, long[] mask, int maskBase) {
        long chunkBytes = (long) mv.capacity() << mm.pageShift;
        for (long cs = start; cs < end; cs += chunkBytes) {
            long ce = Math.min(end, cs + chunkBytes);
            int base = (int) ((cs - start) >>> mm.pageShift);
            runChunk(mv, copy, mm, cs, ce, MigrateVma.SELECT_SYSTEM, target.owner(), target.node(), target, mask,
                    maskBase + base);
            boolean foreign = collect(mv, res, base, false);
            if (foreign) {
                for (Device other : engine.devices()) {
                    if (other != target) {
                        runChunk(mv, copy, mm, cs, ce, MigrateVma.SELECT_DEVICE_PRIVATE
                                | MigrateVma.SELECT_DEVICE_COHERENT, other.owner(), engine.ram(), other, mask,
                                maskBase + base);
                    }
                }
                runChunk(mv, copy, mm, cs, ce, MigrateVma.SELECT_SYSTEM, target.owner(), target.node(), target, mask,
                        maskBase + base);
                collect(mv, res, base, true);
            }
        }
    }

    /** Migrates every device page of {@code [start, end)} back to RAM; {@code only} limits it to one device's pages. */
    MigrationResult toRam(AddressSpace mm, long start, long end, Device only) {
        MigrationResult res = newResult(mm, start, end);
        Scratch sc = acquire();
        toRam(sc.mv, sc.copy, res, mm, start, end, only);
        release(sc); // not after an exception: a failed call may leave the pair half-used
        count(res);
        return res;
    }

    private void toRam(MigrateVma mv, CopyBatch copy, MigrationResult res, AddressSpace mm, long start, long end,
            Device only) {
        long chunkBytes = (long) mv.capacity() << mm.pageShift;
        List<Device> devices = only != null ? List.of(only) : engine.devices();
        for (long cs = start; cs < end; cs += chunkBytes) {
            long ce = Math.min(end, cs + chunkBytes);
            int base = (int) ((cs - start) >>> mm.pageShift);
            if (devices.isEmpty()) {
                runChunk(mv, copy, mm, cs, ce, 0, null, engine.ram(), null, null, 0);
                collect(mv, res, base, false);
            }
            for (Device d : devices) {
                runChunk(mv, copy, mm, cs, ce, MigrateVma.SELECT_DEVICE_PRIVATE | MigrateVma.SELECT_DEVICE_COHERENT,
                        d.owner(), engine.ram(), d, null, 0);
                collect(mv, res, base, true);
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
    void runChunk(MigrateVma mv, CopyBatch copy, AddressSpace mm, long cs, long ce, int select, Object owner,
            MemoryNode target, Device engineOwner, long[] mask, int maskBase) {
        long t0 = System.nanoTime();
        mv.setup(mm, cs, ce, select, owner, target, mask, maskBase);
        boolean mapHere = target.type().isDevice() && engineOwner != null && engineOwner.node() == target;
        // an invalidation racing with this migration must win over mapping its pages here: stamp after collect
        long stamp = mapHere ? engineOwner.mirror(mm).notifier.stamp(cs, ce) : -1;
        try {
            if (mv.cpages() > 0) {
                allocateAndCopy(mv, copy, target, engineOwner);
            }
            mv.pages();
            if (mapHere && stamp >= 0) {
                engineOwner.mapMigrated(mv, stamp); // dmirror_migrate_finalize_and_map
            }
        } finally {
            mv.finalizeMigration();
            engine.stats.migrateNanos.add(System.nanoTime() - t0);
        }
    }

    /**
     * Allocates the destinations of every collected page in one free-list pop and copies them in one batch. A chunk
     * has one source node: the selection mask and owner of each pass admit one node's pages (plus holes, which are
     * zero-filled).
     */
    private void allocateAndCopy(MigrateVma mv, CopyBatch copy, MemoryNode target, Device engineOwner) {
        int n = mv.npages();
        int[] frames = new int[mv.cpages()];
        int got = target == engine.ram() ? engine.allocateRam(frames, 0, frames.length) // page-cache reclaim
                : target.allocate(frames, 0, frames.length);
        DeviceReclaim reclaim = engineOwner != null && engineOwner.node() == target ? engineOwner.reclaim : null;
        if (reclaim != null) {
            if (got < frames.length) {
                got += reclaim.reclaimAndAllocate(frames, got, frames.length - got); // direct reclaim
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
        int[] slotPage = new int[got];
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
        if (used == 0) {
            return;
        }
        engine.stats.copy(engineOwner.copyEngine(), copy);
        if (copy.failures() > 0) {
            for (int k = 0; k < used; k++) {
                if (copy.failed(k)) {
                    mv.fail(slotPage[k], MigrateResult.COPY_FAILED);
                }
            }
        }
    }
}
