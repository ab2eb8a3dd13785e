package dev.hmm.mm;

import java.util.Arrays;
import org.jctools.queues.MpscArrayQueue;

/**
 * Services one device's fault buffer, a batch at a time (UVM's {@code uvm_parent_gpu_service_replayable_faults} and
 * {@code service_fault_batch}). Owned by whichever thread holds the buffer's servicing role ({@link FaultBuffer}:
 * the servicing thread, or a faulting accessor), one at a time; nothing here is shared.
 *
 * <pre>
 *  pass:   up to maxBatchesPerPass batches
 *  batch:  drain up to maxBatch records (carried-over ones first)
 *          sort by (address space, page); coalesce duplicates per page, keeping the strongest access
 *          group by (address space, 2 MiB block); per block:
 *            pages already usable in the mirror: nothing to do (a racing fault resolved them)
 *            pages not resident here: one migrate_vma over the block, masked to those pages
 *              (a page that cannot move stays where it is and is mapped remotely, counted by reason)
 *            map: hmm_range_fault the pages inside the interval-notifier protocol, program the mirror
 *            (an atomic on a RAM page that stays in RAM first takes device exclusivity)
 *          replay per policy (BLOCK: after each block; BATCH; BATCH_FLUSH: flush, then replay; ONCE: per pass)
 * </pre>
 * Accounting is exact: every record drained is either serviced (one per unique page of its batch) or a duplicate
 * (coalesced in its batch, or found already resolved by the flush), so raised = serviced + duplicates once the
 * buffer is empty.
 */
final class FaultBatch {
    private static final long VPN_MASK = (1L << 36) - 1;
    private static final AccessType[] ACCESS = AccessType.values();

    private final Device device;
    private final HmmEngine engine;
    private final FaultServiceConfig config;
    private final MpscArrayQueue<FaultRecord> queue;
    private final int pageShift;
    private final int blockShift; // log2 of pages per 2 MiB block
    private final int blockPages;

    private final FaultRecord[] recs;
    private int n;
    private int carried;
    private final long[] keys;
    private final int[] order;
    private FaultRecord[] replay;
    private int replays;

    private final long[] upage;
    private final byte[] uaccess;
    private final byte[] spanAccess;
    private final long[] migrateMask;
    private final long[] mapMask;
    private final long[] errorMask;
    private final long[] dupMask;
    /** Page-cache pages in RAM that an atomic reaches over the link (make_device_exclusive takes anonymous only). */
    private final long[] linkAtomicMask;
    private final BusErrorException[] busErrors;

    FaultBatch(Device device, HmmEngine engine, FaultServiceConfig config, MpscArrayQueue<FaultRecord> queue) {
        this.device = device;
        this.engine = engine;
        this.config = config;
        this.queue = queue;
        this.pageShift = engine.config().pageShift();
        this.blockShift = Math.max(0, MmuIntervalNotifier.BLOCK_SHIFT - pageShift);
        this.blockPages = 1 << blockShift;
        int cap = config.maxBatch();
        this.recs = new FaultRecord[cap];
        this.keys = new long[cap];
        this.order = new int[cap];
        this.replay = new FaultRecord[cap * 2];
        this.upage = new long[Math.min(cap, blockPages)];
        this.uaccess = new byte[Math.min(cap, blockPages)];
        this.spanAccess = new byte[blockPages];
        int words = (blockPages + 63) >>> 6;
        this.migrateMask = new long[words];
        this.mapMask = new long[words];
        this.errorMask = new long[words];
        this.dupMask = new long[words];
        this.linkAtomicMask = new long[words];
        this.busErrors = new BusErrorException[blockPages];
    }

    /** Records drained but not yet serviced (carried over by a flush). */
    boolean hasCarry() {
        return carried > 0;
    }

    /** One servicing pass; returns the number of records drained. */
    int pass() {
        int total = 0;
        ReplayPolicy policy = config.replayPolicy();
        for (int b = 0; b < config.maxBatchesPerPass(); b++) {
            n = carried;
            carried = 0;
            while (n < recs.length) {
                FaultRecord r = queue.poll();
                if (r == null) {
                    break;
                }
                recs[n++] = r;
            }
            if (n == 0) {
                break;
            }
            total += n;
            try {
                serviceBatch(policy);
            } catch (RuntimeException | Error e) {
                // an engine bug must not strand the accessors: fail the batch to them
                for (int i = 0; i < n; i++) {
                    if (recs[i].error == null) {
                        recs[i].error = e instanceof RuntimeException re ? re : new IllegalStateException(e);
                    }
                    addReplay(recs[i]);
                }
            }
            if (policy == ReplayPolicy.BATCH_FLUSH) {
                flush();
            }
            if (policy != ReplayPolicy.ONCE) {
                replayAll();
            }
        }
        replayAll(); // ONCE: the pass's single replay; other policies: nothing left
        return total;
    }

    private void serviceBatch(ReplayPolicy policy) {
        engine.stats.recordFaultBatch(n);
        for (int i = 0; i < n; i++) {
            FaultRecord r = recs[i];
            keys[i] = ((long) r.mm.id() << 36) | (r.va >>> pageShift);
            order[i] = i;
        }
        sort(keys, order, 0, n - 1);
        int i = 0;
        while (i < n) {
            long block = keys[i] >>> blockShift;
            int j = i + 1;
            while (j < n && keys[j] >>> blockShift == block) {
                j++;
            }
            try {
                serviceBlock(i, j);
            } catch (RuntimeException e) {
                for (int k = i; k < j; k++) {
                    FaultRecord r = recs[order[k]];
                    if (r.error == null) {
                        r.error = e;
                    }
                }
            }
            for (int k = i; k < j; k++) {
                addReplay(recs[order[k]]);
            }
            if (policy == ReplayPolicy.BLOCK) {
                replayAll();
            }
            i = j;
        }
    }

    /** Services sorted records {@code [i, j)}, all of one address space and one 2 MiB block. */
    private void serviceBlock(int i, int j) {
        AddressSpace mm = recs[order[i]].mm;
        DeviceMirror mirror = device.mirror(mm);
        int u = 0;
        for (int k = i; k < j; k++) {
            FaultRecord r = recs[order[k]];
            if (k > i && keys[k] == keys[k - 1]) {
                uaccess[u - 1] = (byte) Math.max(uaccess[u - 1], r.access.ordinal());
                continue;
            }
            upage[u] = keys[k] & VPN_MASK;
            uaccess[u] = (byte) r.access.ordinal();
            u++;
        }
        engine.stats.servicedFaults.add(u);
        if (j - i > u) {
            engine.stats.duplicateFaults.add((j - i) - u); // LongAdder.add(0) would still pay its CAS
        }

        long firstVpn = upage[0] & ~(long) (blockPages - 1);
        long blockVa = firstVpn << pageShift;
        Arrays.fill(migrateMask, 0L);
        Arrays.fill(mapMask, 0L);
        Arrays.fill(errorMask, 0L);
        Arrays.fill(dupMask, 0L);
        Arrays.fill(linkAtomicMask, 0L);
        boolean migrate = false;
        boolean duplicate = false;
        boolean map = false;
        int nodeId = device.node().id();
        // one walk of each table for the whole block (a stale mirror leaf reads NONE: see DeviceMirror)
        long[] mirrorLeaf = mirror.leaf(firstVpn);
        long[] cpuLeaf = mm.pageTable.leaf(firstVpn);
        for (int q = 0; q < u; q++) {
            int off = (int) (upage[q] - firstVpn);
            AccessType access = ACCESS[uaccess[q]];
            spanAccess[off] = uaccess[q];
            long va = upage[q] << pageShift;
            if (Device.usable(DeviceMirror.entry(mirrorLeaf, upage[q]), access)) {
                continue; // resolved since it was raised
            }
            Vma vma = mm.findVma(va);
            if (vma == null || !vma.prot().allows(access.isWrite())) {
                set(errorMask, off); // fatal: nothing is moved for an access that is not allowed
                busErrors[off] = null; // every errorMask bit sets its slot: a block that threw leaves none stale
                continue;
            }
            // CPU leaves are never unlinked; one created since the walk above is found by mm.pte
            long pte = cpuLeaf != null ? PageTable.laPte(cpuLeaf, PageTable.slot(upage[q])) : mm.pte(va);
            if (vma.isFile() && Pte.isNone(pte)) {
                // a file page not mapped here yet: fault it into the page cache and this mapping first, so that it
                // can migrate (migrate_vma cannot populate file holes)
                try {
                    engine.cpuFaults.handle(mm, va, va >>> pageShift, Pte.NONE, AccessType.READ);
                } catch (BusErrorException e) {
                    set(errorMask, off);
                    busErrors[off] = e;
                    continue;
                }
                pte = mm.pte(va);
            }
            set(mapMask, off);
            map = true;
            int kind = Pte.kind(pte);
            boolean here = (kind == Pte.KIND_PRESENT || kind == Pte.KIND_DEVICE_PRIVATE)
                    && Pfn.node(Pte.pfn(pte)) == nodeId;
            // make_device_exclusive takes anonymous pages only: atomics on file pages migrate them instead
            boolean exclusivePath = access == AccessType.ATOMIC && (kind == Pte.KIND_EXCLUSIVE
                    || (config.exclusiveAtomics() && vma.isAnonymous() && kind == Pte.KIND_PRESENT
                            && Pfn.node(Pte.pfn(pte)) == 0));
            boolean dupPath = config.readDuplication() && !access.isWrite() && kind == Pte.KIND_PRESENT
                    && Pfn.node(Pte.pfn(pte)) == 0 && !Pte.isProtNone(pte) && vma.isAnonymous();
            if (dupPath) {
                set(dupMask, off);
                duplicate = true;
            } else if (!here && !exclusivePath) {
                set(migrateMask, off);
                migrate = true;
            }
        }
        if (migrate) {
            // only the span of the faulted pages, not the whole block: a lone fault migrates one page, and every
            // step of migrate_vma (setup, collect, pages, finalize, mapping) walks the range it is given
            int lo = first(migrateMask);
            int hi = last(migrateMask);
            MigrationResult res = engine.migrator.toDevice(mm, blockVa + ((long) lo << pageShift),
                    blockVa + ((long) (hi + 1) << pageShift), device, migrateMask, lo);
            mirrorLeaf = mirror.leaf(firstVpn); // the migration may have created it
            for (int off = lo; off <= hi; off++) {
                if (!test(migrateMask, off)) {
                    continue;
                }
                MigrateResult r = res.resultOrNull(off - lo);
                if (r != null && r != MigrateResult.MIGRATED && r != MigrateResult.ALREADY_ON_TARGET
                        && r != MigrateResult.BUSY) {
                    engine.stats.remoteMappings[r.ordinal()].increment();
                }
                if (Device.usable(DeviceMirror.entry(mirrorLeaf, firstVpn + off), ACCESS[spanAccess[off]])) {
                    clear(mapMask, off); // mapped by the migration itself
                }
            }
            map = first(mapMask) >= 0;
        }
        if (duplicate) {
            duplicate(mm, mirror, blockVa);
            map = first(mapMask) >= 0;
        }
        if (map) {
            mapPages(mm, mirror, blockVa);
        }
        if (first(errorMask) >= 0) {
            for (int k = i; k < j; k++) {
                FaultRecord r = recs[order[k]];
                int off = (int) ((r.va >>> pageShift) - firstVpn);
                if (test(errorMask, off)) {
                    Vma vma = mm.findVma(r.va);
                    r.error = busErrors[off] != null ? busErrors[off]
                            : new SegmentationFaultException(r.va, "device " + device.name() + ": " + r.access
                                    + (vma == null ? " with no mapping" : " of " + vma.prot() + " mapping " + vma));
                }
            }
            for (int off = first(errorMask), last = last(errorMask); off <= last; off++) {
                busErrors[off] = null; // left clean for the next block (set only where errorMask is)
            }
        }
    }

    /** hmm_range_fault the pages of {@link #mapMask} and program the mirror, retrying while the sequence moves. */
    private void mapPages(AddressSpace mm, DeviceMirror mirror, long blockVa) {
        int lo = first(mapMask);
        int hi = last(mapMask);
        long start = blockVa + ((long) lo << pageShift);
        HmmRange range = new HmmRange(start, blockVa + ((long) (hi + 1) << pageShift), 1 << pageShift, 0, -1L,
                device.owner());
        long[] pfns = range.pfns();
        int nodeId = device.node().id();
        for (;;) {
            long seq = mirror.notifier.readBegin(start);
            for (int off = lo; off <= hi; off++) {
                pfns[off - lo] = !test(mapMask, off) ? 0
                        : HmmRange.REQ_FAULT | (ACCESS[spanAccess[off]].isWrite() ? HmmRange.REQ_WRITE : 0);
            }
            HmmRange.Status status = engine.rangeFault.walk(mm, range);
            if (status == HmmRange.Status.BUSY) {
                engine.stats.rangeFaultRetries.increment();
                continue;
            }
            if (takeExclusivity(mm, pfns, lo, hi, blockVa)) {
                continue; // the entries changed: walk again
            }
            Runnable hook = engine.hooks.beforeMirrorLock;
            if (hook != null) {
                hook.run();
            }
            mirror.lock.lock();
            try {
                if (mirror.notifier.readRetry(start, seq)) {
                    engine.stats.rangeFaultRetries.increment();
                    continue;
                }
                long[] leaf = null; // the block's mirror leaf, once something is to be programmed
                for (int off = lo; off <= hi; off++) {
                    if (!test(mapMask, off)) {
                        continue;
                    }
                    long o = pfns[off - lo];
                    if ((o & HmmRange.PFN_ERROR) != 0) {
                        set(errorMask, off);
                    } else if ((o & HmmRange.PFN_VALID) != 0) {
                        long va = blockVa + ((long) off << pageShift);
                        Vma vma = mm.findVma(va);
                        // anonymous memory needs no dirty tracking: a read fault maps it writable if the CPU may
                        // write it, saving the write-protect fault a later device write would take
                        boolean write = ACCESS[spanAccess[off]].isWrite() || (vma != null && vma.isAnonymous());
                        long me = Device.mirrorEntry(o, write, nodeId);
                        if (test(linkAtomicMask, off) && (me & Pte.REMOTE) != 0 && Pte.isPresent(me)) {
                            me |= Pte.LINK_ATOMIC;
                        }
                        if (leaf == null) {
                            leaf = mirror.leafOrCreate(va >>> pageShift);
                        }
                        DeviceMirror.program(leaf, va >>> pageShift, me);
                    }
                }
            } finally {
                mirror.lock.unlock();
            }
            return;
        }
    }

    /**
     * Read duplication (UVM {@code make_resident_read_duplicate}): the pages of {@link #dupMask} stay in RAM,
     * write-protected and marked duplicated (every other mirror drops them first, so no one can still write them),
     * and this device gets a read-only copy mapped locally. Under the interval protocol: a write that breaks the
     * duplication before the mirror is programmed makes the sequence move, and the copies are thrown away. Pages that
     * cannot be duplicated (no device memory, raced) are left in {@link #mapMask} to be mapped remotely.
     */
    private void duplicate(AddressSpace mm, DeviceMirror mirror, long blockVa) {
        MemoryNode dn = device.node();
        int n = 0;
        for (long w : dupMask) {
            n += Long.bitCount(w);
        }
        int[] frames = new int[n];
        int got = dn.allocate(frames, 0, n);
        if (device.reclaim != null) {
            if (got < n) {
                got += device.reclaim.reclaimAndAllocate(frames, got, n - got);
            }
            device.reclaim.afterAllocation();
        }
        int[] offs = new int[got];
        long[] originals = new long[got];
        int m = 0;
        // 1. write-protect the originals; every mirror (this one too) drops them, the TLB is flushed once
        java.util.List<MmuNotifierRange> ranges = new java.util.ArrayList<>();
        try {
            for (int off = first(dupMask); off >= 0 && m < got; off = next(dupMask, off)) {
                long va = blockVa + ((long) off << pageShift);
                long vpn = va >>> pageShift;
                long[] leaf = mm.pageTable.leaf(vpn);
                int s = PageTable.slot(vpn);
                ranges.add(mm.invalidateRangeStart(va, va + (1L << pageShift), MmuNotifierEvent.CLEAR, device.owner()));
                long pte = PageTable.laPte(leaf, s);
                if (!Pte.isPresent(pte) || Pfn.node(Pte.pfn(pte)) != 0 || Pte.isProtNone(pte)) {
                    continue;
                }
                long wp = (pte & ~Pte.WRITE) | Pte.DUPLICATED;
                if (wp != pte && !PageTable.casPte(leaf, s, pte, wp)) {
                    continue;
                }
                offs[m] = off;
                originals[m] = Pte.pfn(pte);
                m++;
            }
            engine.tlb.flush();
        } finally {
            for (MmuNotifierRange r : ranges) {
                r.close();
            }
        }
        // 2. copy under the protocol: any break of the duplication from here on moves the sequence
        long seq = mirror.notifier.readBegin(blockVa);
        CopyBatch copy = new CopyBatch(Math.max(1, m));
        copy.reset(engine.ram().store, dn.store);
        for (int k = 0; k < m; k++) {
            copy.add(Pfn.index(originals[k]), frames[k]);
        }
        if (m > 0) {
            engine.stats.copy(device.copyEngine(), copy);
        }
        LruEvents lru = new LruEvents();
        boolean[] used = new boolean[got];
        mirror.lock.lock();
        try {
            if (!mirror.notifier.readRetry(blockVa, seq)) {
                for (int k = 0; k < m; k++) {
                    long va = blockVa + ((long) offs[k] << pageShift);
                    long pte = mm.pte(va);
                    if (copy.failed(k) || !Pte.isPresent(pte) || Pte.pfn(pte) != originals[k]
                            || !Pte.isDuplicated(pte) || Pte.isWrite(pte)) {
                        continue;
                    }
                    dn.table.soRmap(frames[k], Rmap.duplicate(Rmap.anon(mm.id(), va >>> pageShift)));
                    dn.table.transition(frames[k], PageState.ALLOCATED, PageState.MAPPED);
                    lru.insert(dn, frames[k]);
                    mirror.program(va, Pte.present(Pfn.of(dn.id(), frames[k]), Pte.DUPLICATED));
                    clear(mapMask, offs[k]);
                    used[k] = true;
                    engine.stats.duplicatesCreated.increment();
                }
            }
        } finally {
            mirror.lock.unlock();
        }
        lru.publish();
        int unused = 0;
        for (int k = 0; k < got; k++) {
            if (!used[k]) {
                frames[unused++] = frames[k];
            }
        }
        dn.release(frames, 0, unused, PageState.ALLOCATED);
    }

    private static int next(long[] m, int i) {
        for (int j = i + 1; j < m.length << 6; j++) {
            if (test(m, j)) {
                return j;
            }
        }
        return -1;
    }

    /** Atomics on RAM pages that stay in RAM need device exclusivity; returns whether any entry was changed. */
    private boolean takeExclusivity(AddressSpace mm, long[] pfns, int lo, int hi, long blockVa) {
        boolean changed = false;
        for (int off = lo; off <= hi; off++) {
            if (!test(mapMask, off) || ACCESS[spanAccess[off]] != AccessType.ATOMIC) {
                continue;
            }
            long o = pfns[off - lo];
            if ((o & HmmRange.PFN_VALID) != 0 && (o & (HmmRange.PFN_DEVICE_PRIVATE | HmmRange.PFN_EXCLUSIVE)) == 0
                    && Pfn.node(HmmRange.pfn(o)) == 0) {
                long va = blockVa + ((long) off << pageShift);
                if (engine.makeDeviceExclusive(mm, va, device)) {
                    changed = true;
                } else {
                    // a page-cache page that did not move here: make_device_exclusive refuses file folios
                    // (-EOPNOTSUPP in Linux), so the atomic goes over the link, as system-scope atomics do
                    set(linkAtomicMask, off);
                }
            }
        }
        return changed;
    }

    /** Fails the faults carried over (the device is going away): they are replayed with {@code error}. */
    void abandon(RuntimeException error) {
        for (int i = 0; i < carried; i++) {
            recs[i].error = error;
            recs[i].replay();
            recs[i] = null;
        }
        carried = 0;
    }

    /** BATCH_FLUSH: pending faults the batch resolved are replayed as duplicates, the rest carried over. */
    private void flush() {
        int avail = queue.size();
        int devId = device.node().id();
        for (int k = 0; k < avail && carried < recs.length; k++) {
            FaultRecord r = queue.poll();
            if (r == null) {
                break;
            }
            DeviceMirror m = r.mm.mirrors[devId];
            if (m != null && Device.usable(m.entry(r.va), r.access)) {
                engine.stats.duplicateFaults.increment();
                addReplay(r);
            } else {
                recs[carried++] = r;
            }
        }
    }

    private void addReplay(FaultRecord r) {
        if (replays == replay.length) {
            replay = Arrays.copyOf(replay, replays * 2);
        }
        replay[replays++] = r;
    }

    private void replayAll() {
        if (replays == 0) {
            return;
        }
        engine.stats.replays.increment();
        for (int k = 0; k < replays; k++) {
            replay[k].replay();
            replay[k] = null;
        }
        replays = 0;
    }

    private static void set(long[] m, int i) {
        m[i >>> 6] |= 1L << (i & 63);
    }

    private static void clear(long[] m, int i) {
        m[i >>> 6] &= ~(1L << (i & 63));
    }

    private static boolean test(long[] m, int i) {
        return (m[i >>> 6] & (1L << (i & 63))) != 0;
    }

    private static int first(long[] m) {
        for (int w = 0; w < m.length; w++) {
            if (m[w] != 0) {
                return (w << 6) + Long.numberOfTrailingZeros(m[w]);
            }
        }
        return -1;
    }

    private static int last(long[] m) {
        for (int w = m.length - 1; w >= 0; w--) {
            if (m[w] != 0) {
                return (w << 6) + 63 - Long.numberOfLeadingZeros(m[w]);
            }
        }
        return -1;
    }

    /** Sorts {@code keys[lo..hi]} ascending, moving {@code vals} along (quicksort, insertion sort below 16). */
    static void sort(long[] keys, int[] vals, int lo, int hi) {
        while (hi - lo >= 16) {
            int mid = (lo + hi) >>> 1;
            if (keys[mid] < keys[lo]) {
                swap(keys, vals, mid, lo);
            }
            if (keys[hi] < keys[lo]) {
                swap(keys, vals, hi, lo);
            }
            if (keys[hi] < keys[mid]) {
                swap(keys, vals, hi, mid);
            }
            long pivot = keys[mid];
            int i = lo;
            int j = hi;
            while (i <= j) {
                while (keys[i] < pivot) {
                    i++;
                }
                while (keys[j] > pivot) {
                    j--;
                }
                if (i <= j) {
                    swap(keys, vals, i++, j--);
                }
            }
            if (j - lo < hi - i) { // recurse into the smaller side, loop on the larger
                sort(keys, vals, lo, j);
                lo = i;
            } else {
                sort(keys, vals, i, hi);
                hi = j;
            }
        }
        for (int i = lo + 1; i <= hi; i++) {
            long k = keys[i];
            int v = vals[i];
            int j = i - 1;
            while (j >= lo && keys[j] > k) {
                keys[j + 1] = keys[j];
                vals[j + 1] = vals[j];
                j--;
            }
            keys[j + 1] = k;
            vals[j + 1] = v;
        }
    }

    private static void swap(long[] keys, int[] vals, int a, int b) {
        long k = keys[a];
        keys[a] = keys[b];
        keys[b] = k;
        int v = vals[a];
        vals[a] = vals[b];
        vals[b] = v;
    }
}
