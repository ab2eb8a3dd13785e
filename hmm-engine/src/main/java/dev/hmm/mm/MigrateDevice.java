package dev.hmm.mm;

import java.util.ArrayList;
import java.util.List;

/**
 * {@code migrate_device_pfns} / {@code migrate_device_range}: migrates device frames back to RAM knowing only their
 * frame numbers, without a VMA or the mmap lock: how a device evicts under oversubscription (and how a driver
 * empties its memory). Each frame is found through its reverse map, then the same steps as {@link MigrateVma}:
 * <pre>
 *  collect   per frame: reverse map -&gt; (address space, page); the entry must still name the frame; mirrors drop the
 *            page (MMU_NOTIFY_MIGRATE); CAS the entry to a migration entry; isolate the frame (no pins)
 *  flush     one TLB flush for the batch
 *  pages     one RAM pop for all destinations; one copy batch through the device's copy engine
 *  finalize  install the RAM entries (or restore, per page), free the device frames, wake sleepers
 * </pre>
 * A frame that cannot be taken gets a reason ({@link MigrateResult#BUSY} when it moved or changed under us,
 * {@link MigrateResult#PINNED}, {@link MigrateResult#OUT_OF_RAM}, {@link MigrateResult#COPY_FAILED}) and is left
 * exactly as it was. Racing unmaps wait on the migration entries (they never need a lock this holds).
 */
final class MigrateDevice {
    private final HmmEngine engine;

    MigrateDevice(HmmEngine engine) {
        this.engine = engine;
    }

    /** One collected page. */
    private record Victim(int slotInBatch, int frame, AddressSpace mm, long vpn, long[] leaf, int slot, long mig) {
    }

    /** One collected page-cache page (locked in its cache, isolated, unmapped). */
    private record FileVictim(int slotInBatch, int frame, MappedFile file, long index, long entry) {
    }

    /**
     * Evicts {@code frames[0..n)} of {@code device} to RAM.
     *
     * @param rmaps per frame, the reverse map it had when it was chosen: a frame that now holds another page (it was
     *        freed and reused since) is left alone as {@link MigrateResult#BUSY}, so that a stale choice never evicts
     *        the newcomer
     * @param results per frame, filled with its result
     * @return frames evicted
     */
    int evict(Device device, int[] frames, long[] rmaps, int n, MigrateResult[] results) {
        MemoryNode node = device.node();
        LruEvents lru = new LruEvents();
        List<Victim> victims = new ArrayList<>(n);
        List<MmuNotifierRange> ranges = new ArrayList<>();
        int[] drops = new int[n];
        int ndrops = 0;
        List<FileVictim> fileVictims = new ArrayList<>();
        boolean flush = false;
        try {
            for (int k = 0; k < n; k++) {
                long rmap = node.table.laRmap(frames[k]);
                if (rmap != rmaps[k]) {
                    results[k] = MigrateResult.BUSY; // freed and reused since it was chosen
                    continue;
                }
                if (collectFile(node, frames[k], rmap, k, fileVictims, ranges, lru)) {
                    results[k] = null; // decided after the flush
                    continue;
                }
                if (dropDuplicate(device, node, frames[k], rmap)) {
                    drops[ndrops++] = frames[k]; // a clean copy: dropped, nothing to copy back
                    results[k] = MigrateResult.MIGRATED;
                    continue;
                }
                results[k] = collect(device, node, frames[k], rmap, k, victims, ranges, lru);
                flush |= !ranges.isEmpty() && ranges.get(ranges.size() - 1).cleared();
            }
            if (flush || !victims.isEmpty() || ndrops > 0 || !fileVictims.isEmpty()) {
                engine.tlb.flush();
            }
        } finally {
            for (MmuNotifierRange r : ranges) {
                r.close();
            }
        }
        lru.publish();
        if (ndrops > 0) {
            node.release(drops, 0, ndrops, PageState.MAPPED);
            engine.stats.droppedDuplicates.add(ndrops);
        }
        int dropped = ndrops + dropFiles(node, fileVictims, results, lru);
        if (victims.isEmpty()) {
            return dropped;
        }
        MemoryNode ram = engine.ram();
        int[] dst = new int[victims.size()];
        int got = engine.allocateRam(dst, 0, dst.length);
        CopyBatch copy = new CopyBatch(victims.size());
        copy.reset(node.store, ram.store);
        for (int v = 0; v < got; v++) {
            copy.add(victims.get(v).frame(), dst[v]);
        }
        if (got > 0) {
            engine.stats.copy(device.copyEngine(), copy);
        }
        int evicted = 0;
        FrameRelease freed = new FrameRelease(engine);
        FrameRelease unused = new FrameRelease(engine);
        for (int v = 0; v < victims.size(); v++) {
            Victim vic = victims.get(v);
            boolean ok = v < got && !copy.failed(v);
            if (ok) {
                ram.table.soRmap(dst[v], node.table.laRmap(vic.frame()));
                ram.table.transition(dst[v], PageState.ALLOCATED, PageState.MAPPED);
                install(vic, Pte.present(Pfn.of(ram.id(), dst[v]), Pte.flags(vic.mig())));
                freed.add(Pfn.of(node.id(), vic.frame()));
                results[vic.slotInBatch()] = MigrateResult.MIGRATED;
                evicted++;
            } else {
                node.table.transition(vic.frame(), PageState.ISOLATED, PageState.MAPPED);
                lru.insert(node, vic.frame());
                install(vic, MigrateVma.entryFor(node, Pfn.of(node.id(), vic.frame()), Pte.flags(vic.mig())));
                if (v < got) {
                    unused.add(Pfn.of(ram.id(), dst[v]));
                }
                results[vic.slotInBatch()] = v < got ? MigrateResult.COPY_FAILED : MigrateResult.OUT_OF_RAM;
            }
            engine.waits.wake(Pfn.of(node.id(), vic.frame()));
        }
        lru.publish();
        freed.releaseAll(PageState.ISOLATED);
        unused.releaseAll(PageState.ALLOCATED);
        if (evicted > 0) {
            engine.stats.recordMigrated(false, evicted, (long) evicted * node.pageSize());
        }
        return evicted + dropped;
    }

    private static void install(Victim vic, long entry) {
        if (!PageTable.casPte(vic.leaf(), vic.slot(), vic.mig(), entry)) {
            throw new IllegalStateException("migration entry changed under its owner at 0x"
                    + Long.toHexString(vic.vpn() << vic.mm().pageShift));
        }
    }

    /**
     * A page-cache page on the device: locked in its file's cache, isolated, every mapping zapped (the reclaim path
     * of file pages, found through the LRU surrogate: the frame's reverse map names (file, index)). False if the frame
     * is not a file page.
     */
    private boolean collectFile(MemoryNode node, int frame, long rmap, int k, List<FileVictim> out,
            List<MmuNotifierRange> ranges, LruEvents lru) {
        if (!Rmap.isFile(rmap)) {
            return false;
        }
        MappedFile file = engine.file(Rmap.space(rmap));
        long index = Rmap.key(rmap);
        long pfn = Pfn.of(node.id(), frame);
        long ce = file == null ? Pte.NONE : file.entry(index);
        if (file == null || Pte.pfn(ce) != pfn || node.table.pins(frame) > 0 || !file.lock(index, ce)) {
            return false; // left to the anon path, which reports it busy
        }
        if (node.table.tryIsolate(frame) != FrameTable.ISOLATED) {
            file.unlock(index, pfn, ce);
            return false;
        }
        file.unmapAll(index, pfn, ranges, MmuNotifierEvent.MIGRATE, false, null);
        lru.remove(node, frame);
        out.add(new FileVictim(k, frame, file, index, ce));
        return true;
    }

    /** Clean page-cache pages are dropped; dirty ones are written back first (through the device's copy engine). */
    private int dropFiles(MemoryNode node, List<FileVictim> victims, MigrateResult[] results, LruEvents lru) {
        int dropped = 0;
        for (FileVictim v : victims) {
            long pfn = Pfn.of(node.id(), v.frame());
            if (v.file().dropLocked(v.index(), pfn)) {
                v.file().unlock(v.index(), pfn, Pte.NONE);
                node.releaseOne(v.frame(), PageState.ISOLATED);
                results[v.slotInBatch()] = MigrateResult.MIGRATED;
                dropped++;
            } else {
                node.table.transition(v.frame(), PageState.ISOLATED, PageState.MAPPED);
                lru.insert(node, v.frame());
                v.file().unlock(v.index(), pfn, v.entry());
                results[v.slotInBatch()] = MigrateResult.COPY_FAILED; // the write failed: the page stays, dirty
            }
        }
        lru.publish();
        return dropped;
    }

    /** A read-duplicate victim: the mirror holding it drops it (no copy: the RAM original is valid). */
    private boolean dropDuplicate(Device device, MemoryNode node, int frame, long rmap) {
        if (!Rmap.isDuplicate(rmap) || node.table.state(frame) != PageState.MAPPED || node.table.pins(frame) > 0) {
            return false;
        }
        AddressSpace mm = engine.space(Rmap.space(rmap));
        if (mm == null) {
            return false;
        }
        DeviceMirror[] ms = mm.mirrors;
        DeviceMirror m = node.id() < ms.length ? ms[node.id()] : null;
        return m != null && m.dropDuplicate(Rmap.key(rmap) << mm.pageShift, frame);
    }

    /** {@code rmap}: the frame's reverse map as read by the caller, checked again once the frame is isolated. */
    private MigrateResult collect(Device device, MemoryNode node, int frame, long rmap, int k, List<Victim> victims,
            List<MmuNotifierRange> ranges, LruEvents lru) {
        FrameTable t = node.table;
        if (t.state(frame) != PageState.MAPPED) {
            return MigrateResult.BUSY;
        }
        if (t.pins(frame) > 0) {
            return MigrateResult.PINNED;
        }
        if (Rmap.isNone(rmap) || Rmap.isFile(rmap) || Rmap.isDuplicate(rmap)) {
            return MigrateResult.BUSY;
        }
        AddressSpace mm = engine.space(Rmap.space(rmap));
        if (mm == null) {
            return MigrateResult.BUSY;
        }
        long vpn = Rmap.key(rmap);
        long pfn = Pfn.of(node.id(), frame);
        long[] leaf = mm.pageTable.leaf(vpn);
        if (leaf == null) {
            return MigrateResult.BUSY;
        }
        int slot = PageTable.slot(vpn);
        long va = vpn << mm.pageShift;
        MmuNotifierRange range = mm.invalidateRangeStart(va, va + mm.pageSize, MmuNotifierEvent.MIGRATE,
                device.owner());
        ranges.add(range);
        long pte = PageTable.laPte(leaf, slot);
        int kind = Pte.kind(pte);
        if ((kind != Pte.KIND_DEVICE_PRIVATE && kind != Pte.KIND_PRESENT) || Pte.pfn(pte) != pfn) {
            return MigrateResult.BUSY; // the reverse map was stale: the page moved or was unmapped
        }
        long mig = Pte.migration(pfn, Pte.flags(pte));
        if (!PageTable.casPte(leaf, slot, pte, mig)) {
            return MigrateResult.BUSY;
        }
        int r = t.tryIsolate(frame);
        boolean reused = r == FrameTable.ISOLATED && t.laRmap(frame) != rmap; // ABA: freed and reused meanwhile
        if (reused) {
            t.transition(frame, PageState.ISOLATED, PageState.MAPPED);
        }
        if (r != FrameTable.ISOLATED || reused) {
            if (!PageTable.casPte(leaf, slot, mig, pte)) {
                throw new IllegalStateException("migration entry changed under its owner at 0x" + Long.toHexString(va));
            }
            engine.waits.wake(pfn);
            return r == FrameTable.ISOLATE_PINNED ? MigrateResult.PINNED : MigrateResult.BUSY;
        }
        lru.remove(node, frame);
        victims.add(new Victim(k, frame, mm, vpn, leaf, slot, mig));
        return null; // decided at finalize
    }
}
