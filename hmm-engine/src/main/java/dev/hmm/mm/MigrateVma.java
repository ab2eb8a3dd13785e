package dev.hmm.mm;

import java.util.Arrays;

/**
 * One {@code migrate_vma} sequence over a range of one address space ({@code mm/migrate_device.c}): the three public
 * phases of Linux, with per-page results in {@link MigratePfn}-encoded {@code src[]} / {@code dst[]} arrays. Reused
 * across calls (no allocation per page).
 *
 * <h2>Contract</h2>
 * <ol>
 * <li>{@link #setup} = collect + unmap. Takes the mmap read lock (held until {@link #finalizeMigration}). For every
 *     page selected by the mask and owner it installs a migration entry in place of the page's entry (CAS; a lost CAS
 *     means a race: the page is dropped as {@link MigrateResult#BUSY}, never retried here) and isolates the frame
 *     (MAPPED with no pin -&gt; ISOLATED, one CAS: {@code folio_trylock} + {@code migrate_vma_check_page}); then one
 *     TLB flush if anything was unmapped. On return every page with {@link MigratePfn#MIGRATE} in {@code src} is
 *     unmapped, isolated, and its content is stable: nobody can read or write it. Holes of anonymous VMAs are
 *     collected as {@code MIGRATE} without {@code VALID} (populate-on-migrate). Every other page already has its
 *     result.</li>
 * <li>The driver step, between the phases (done by {@link Migrator} for the engine's devices): for each migrating
 *     page allocate a destination frame, copy (or zero-fill for a hole) through the copy engine, and set
 *     {@code dst[i] = MigratePfn.of(pfn)}; a page it gives up on gets {@link #fail}. The destination frames are
 *     ALLOCATED and unreachable, so the copy races with nothing.</li>
 * <li>{@link #pages} moves the metadata (reverse map) to the destination and inserts populated holes (a racing first
 *     touch wins: the hole becomes {@link MigrateResult#BUSY}). After it, a page migrated iff its {@code src} still
 *     has {@code MIGRATE}. It is safe to update device page tables now: every page is still isolated.</li>
 * <li>{@link #finalizeMigration} (Linux {@code migrate_vma_finalize}; not {@code finalize()}, which Java reserves)
 *     replaces each migration entry: by the destination (source frame freed, through the owner's {@code pageFree}
 *     for device frames) or by the original (frame back to MAPPED, unused destination freed). So rollback is per page
 *     and implicit: a page that failed anywhere ends restored, with its data untouched. Wakes the sleepers on each
 *     page and drops the mmap read lock. Must be called once after a successful setup, even if pages() was not.</li>
 * </ol>
 * Failures are per page and never abort the other pages; the only fatal errors are engine bugs
 * ({@link IllegalPageStateException}, a migration entry changed by someone else).
 */
public final class MigrateVma {
    /** {@code MIGRATE_VMA_SELECT_SYSTEM}: collect system-RAM pages and anonymous holes. */
    public static final int SELECT_SYSTEM = 1;
    /** {@code MIGRATE_VMA_SELECT_DEVICE_PRIVATE}: collect device-private pages of {@code owner}. */
    public static final int SELECT_DEVICE_PRIVATE = 1 << 1;
    /** {@code MIGRATE_VMA_SELECT_DEVICE_COHERENT}: collect device-coherent pages of {@code owner}. */
    public static final int SELECT_DEVICE_COHERENT = 1 << 2;

    static final byte UNDECIDED = -1;

    private final HmmEngine engine;
    final long[] src;
    final long[] dst;
    final byte[] result;
    private final FrameRelease srcFree;
    private final FrameRelease dstFree;
    private final LruEvents lruEvents = new LruEvents();
    /** Invalidations opened by setup, closed after its TLB flush. */
    private final java.util.List<MmuNotifierRange> ranges = new java.util.ArrayList<>(2);

    private AddressSpace mm;
    private long start;
    private int npages;
    private int cpages;
    private int select;
    private Object owner;
    private MemoryNode target;
    private long[] mask;
    private int maskBase;
    private boolean active;
    private long migratedToDevice;
    private long migratedToRam;
    /** {@link #finalizeLeaf}'s cache: the leaf of block {@code finalizeLeafBlock}, or null. */
    private long[] finalizeLeaf;
    private long finalizeLeafBlock;

    public MigrateVma(HmmEngine engine, int capacity) {
        this.engine = engine;
        this.src = new long[capacity];
        this.dst = new long[capacity];
        this.result = new byte[capacity];
        this.srcFree = new FrameRelease(engine, capacity);
        this.dstFree = new FrameRelease(engine, capacity);
    }

    public int capacity() {
        return src.length;
    }

    /**
     * {@code migrate_vma_setup}: collect and unmap {@code [start, end)} of {@code mm}.
     *
     * @param select {@code SELECT_*} mask of the memory kinds to collect
     * @param owner the {@code pgmap_owner} device pages must have to be collected
     * @param target the destination node (for the {@link MigrateResult#ALREADY_ON_TARGET} reason and the populate
     *     rule); may be null for a caller that decides per page
     */
    public void setup(AddressSpace mm, long start, long end, int select, Object owner, MemoryNode target) {
        setup(mm, start, end, select, owner, target, null, 0);
    }

    /**
     * As {@link #setup(AddressSpace, long, long, int, Object, MemoryNode)}, but only pages whose bit is set in
     * {@code mask} (bit {@code maskBase + i} for page {@code i} of the range) are considered; the others are left
     * alone, without a result. This is how a fault batch migrates just the faulted pages of a 2 MiB block in one call.
     */
    public void setup(AddressSpace mm, long start, long end, int select, Object owner, MemoryNode target,
            long[] mask, int maskBase) {
        if (active) {
            throw new IllegalStateException("migrate_vma: setup called twice without finalize");
        }
        if ((start & mm.pageMask) != 0 || (end & mm.pageMask) != 0 || end <= start) {
            throw new IllegalArgumentException(String.format("migrate_vma needs a page-aligned non-empty range: "
                    + "[0x%x, 0x%x)", start, end));
        }
        long n = (end - start) >>> mm.pageShift;
        if (n > src.length) {
            throw new IllegalArgumentException("migrate_vma range of " + n + " pages exceeds capacity " + src.length);
        }
        this.mm = mm;
        this.start = start;
        this.npages = (int) n;
        this.cpages = 0;
        this.select = select;
        this.owner = owner;
        this.target = target;
        this.mask = mask;
        this.maskBase = maskBase;
        this.migratedToDevice = 0;
        this.migratedToRam = 0;
        Arrays.fill(src, 0, npages, 0L);
        Arrays.fill(dst, 0, npages, 0L);
        Arrays.fill(result, 0, npages, UNDECIDED);
        mm.mmapLock.readLock().lock();
        active = true;
        try {
            // Mirrors drop their entries first (MMU_NOTIFY_MIGRATE): one invalidation per run of selected pages,
            // all open until the single TLB flush after the walk, as the kernel brackets its collect walk.
            try {
                boolean flush = false;
                for (int i = 0; i < npages; ) {
                    if (!selected(i)) {
                        i++;
                        continue;
                    }
                    int j = i;
                    while (j < npages && selected(j)) {
                        j++;
                    }
                    MmuNotifierRange r = mm.invalidateRangeStart(address(i), address(j), MmuNotifierEvent.MIGRATE,
                            owner);
                    ranges.add(r);
                    flush |= r.cleared();
                    flush |= collect(i, j);
                    i = j;
                }
                if (flush) {
                    engine.tlb.flush(); // only flush if we actually modified any entries
                }
                lruEvents.publish();
            } finally {
                MappedFile.closeAll(ranges);
            }
        } catch (RuntimeException | Error e) {
            finalizeMigration();
            throw e;
        }
    }

    private boolean selected(int i) {
        if (mask == null) {
            return true;
        }
        int b = maskBase + i;
        return (mask[b >>> 6] & (1L << (b & 63))) != 0;
    }

    /** Collect walk over pages {@code [from, to)}; returns whether any entry was replaced by a migration entry. */
    private boolean collect(int from, int to) {
        boolean unmapped = false;
        long vpn0 = start >>> mm.pageShift;
        long[] leaf = null;
        Vma vma = null; // the mmap read lock is held: the VMAs cannot change under the walk
        for (int i = from; i < to; i++) {
            long vpn = vpn0 + i;
            if (leaf == null || PageTable.slot(vpn) == 0) {
                leaf = mm.pageTable.leaf(vpn);
            }
            long va = vpn << mm.pageShift;
            if (vma == null || va < vma.start() || va >= vma.end()) {
                vma = mm.findVma(va);
            }
            if (vma == null) {
                result[i] = (byte) MigrateResult.NOT_PRESENT.ordinal();
                continue;
            }
            int s = PageTable.slot(vpn);
            long pte = leaf == null ? Pte.NONE : PageTable.laPte(leaf, s);
            if (Pte.isExclusive(pte)) {
                // a device-exclusive page goes back to a normal entry before it can move (the CPU-touch rule)
                pte = engine.revokeExclusive(mm, va, leaf, s, pte);
            }
            MigrateResult skip = check(vma, pte);
            if (skip != null) {
                result[i] = (byte) skip.ordinal();
                continue;
            }
            if (pte == Pte.NONE) {
                src[i] = MigratePfn.MIGRATE; // a hole: populate on migrate
                cpages++;
                continue;
            }
            MigrateResult r = collectPage(i, leaf, s, pte);
            if (r != null) {
                result[i] = (byte) r.ordinal();
            } else {
                unmapped = true;
            }
        }
        return unmapped;
    }

    /** Whether the page is selected; null if it is, else the reason it is skipped. */
    private MigrateResult check(Vma vma, long pte) {
        int kind = Pte.kind(pte);
        if (kind == Pte.KIND_NONE) {
            boolean populate = (select & SELECT_SYSTEM) != 0 && vma.isAnonymous() && vma.prot().canRead()
                    && target != null && target.type().isDevice();
            return populate ? null : MigrateResult.NOT_PRESENT;
        }
        if (kind == Pte.KIND_MIGRATION || kind == Pte.KIND_EXCLUSIVE) {
            return MigrateResult.BUSY; // another migration, or an exclusivity re-taken under us
        }
        MemoryNode node = engine.node(Pfn.node(Pte.pfn(pte)));
        if (node == target) {
            return MigrateResult.ALREADY_ON_TARGET;
        }
        MemoryType type = node.type();
        if (!type.movable()) {
            return MigrateResult.UNMOVABLE;
        }
        if (type == MemoryType.SYSTEM_RAM) {
            return (select & SELECT_SYSTEM) != 0 ? null : MigrateResult.NOT_SELECTED;
        }
        if (node.pagemap().owner() != owner) {
            return MigrateResult.OTHER_OWNER;
        }
        int need = type == MemoryType.DEVICE_PRIVATE ? SELECT_DEVICE_PRIVATE : SELECT_DEVICE_COHERENT;
        return (select & need) != 0 ? null : MigrateResult.NOT_SELECTED;
    }

    /**
     * Installs the migration entry and isolates the frame. The entry CAS comes first: it is the trylock that makes
     * concurrent migrations and faults of the same page see a migration entry and wait, instead of racing for the
     * frame. Returns null on success, else the reason (the entry restored).
     */
    private MigrateResult collectPage(int i, long[] leaf, int s, long pte) {
        long pfn = Pte.pfn(pte);
        MemoryNode node = engine.node(Pfn.node(pfn));
        int idx = Pfn.index(pfn);
        Runnable hook = engine.hooks.beforeCollectRmap;
        if (hook != null) {
            hook.run();
        }
        long rmap = node.table.laRmap(idx);
        if (Rmap.isFile(rmap)) {
            return collectFilePage(i, pte, node, idx, rmap);
        }
        if (node.table.pins(idx) > 0) {
            return MigrateResult.PINNED;
        }
        long mig = Pte.migration(pfn, Pte.flags(pte));
        boolean won = engine.hooks.brokenCollectCas ? TestHooks.brokenCasPte(leaf, s, pte, mig)
                : PageTable.casPte(leaf, s, pte, mig);
        if (!won) {
            return MigrateResult.BUSY;
        }
        int r = node.table.tryIsolate(idx);
        if (r != FrameTable.ISOLATED) {
            restoreEntry(leaf, s, mig, pte);
            return r == FrameTable.ISOLATE_PINNED ? MigrateResult.PINNED : MigrateResult.BUSY;
        }
        if (node.table.laRmap(idx) != rmap) {
            // ABA: the frame was freed and reused (a page-cache page read again into it, mapped here with the same
            // entry) between the reverse-map read and the isolation; only now is it stable. Let go: a file page
            // must be collected under its page-cache lock.
            node.table.transition(idx, PageState.ISOLATED, PageState.MAPPED);
            restoreEntry(leaf, s, mig, pte);
            return MigrateResult.BUSY;
        }
        src[i] = MigratePfn.of(pfn) | MigratePfn.MIGRATE | (Pte.isWrite(pte) ? MigratePfn.WRITE : 0);
        cpages++;
        lruEvents.remove(node, idx); // isolate_lru_page: an isolated device frame leaves its LRU
        return null;
    }

    /**
     * A page-cache page: the cache entry is its lock ({@link MappedFile}); every mapping's entry (this one too) is
     * zapped, so the migration entry lives only in the page cache, where faults of any mapping wait on it.
     */
    private MigrateResult collectFilePage(int i, long pte, MemoryNode node, int idx, long rmap) {
        MappedFile file = engine.file(Rmap.space(rmap));
        if (file == null) {
            return MigrateResult.BUSY;
        }
        long index = Rmap.key(rmap);
        long va = address(i);
        Vma vma = mm.findVma(va);
        if (vma == null || vma.file() != file || vma.fileIndexAt(va, mm.pageShift) != index) {
            // ABA: the entry read at va named this frame as page fileIndexAt(va), but by the time the reverse map was
            // read the frame had been dropped and read again as another page of the file (the free list is LIFO).
            // Collecting it for va would re-install that other page at va on finalize: a mapping no unmapAll finds.
            return MigrateResult.BUSY;
        }
        long pfn = Pte.pfn(pte);
        long ce = file.entry(index);
        int k = Pte.kind(ce);
        if ((k != Pte.KIND_PRESENT && k != Pte.KIND_DEVICE_PRIVATE) || Pte.pfn(ce) != pfn) {
            return MigrateResult.BUSY;
        }
        if (node.table.pins(idx) > 0) {
            return MigrateResult.PINNED;
        }
        if (!file.lock(index, ce)) {
            return MigrateResult.BUSY;
        }
        int r = node.table.tryIsolate(idx);
        if (r != FrameTable.ISOLATED) {
            file.unlock(index, pfn, ce);
            return r == FrameTable.ISOLATE_PINNED ? MigrateResult.PINNED : MigrateResult.BUSY;
        }
        file.unmapAll(index, pfn, ranges, MmuNotifierEvent.MIGRATE, false, null);
        src[i] = MigratePfn.of(pfn) | MigratePfn.MIGRATE | (Pte.isWrite(pte) ? MigratePfn.WRITE : 0);
        cpages++;
        lruEvents.remove(node, idx);
        return null;
    }

    private void restoreEntry(long[] leaf, int s, long mig, long original) {
        if (!PageTable.casPte(leaf, s, mig, original)) {
            throw new IllegalStateException("migration entry " + Pte.toString(mig) + " changed under its owner to "
                    + Pte.toString(PageTable.laPte(leaf, s)));
        }
        engine.waits.wake(Pte.pfn(mig));
    }

    // ------------------------------------------------------------------ driver-step accessors

    public int npages() {
        return npages;
    }

    /** Entries collected and still migrating ({@code migrate->cpages}). */
    public int cpages() {
        return cpages;
    }

    public long start() {
        return start;
    }

    public AddressSpace mm() {
        return mm;
    }

    public long src(int i) {
        return src[i];
    }

    public long dst(int i) {
        return dst[i];
    }

    /** Sets page {@code i}'s destination ({@code MigratePfn.of(pfn)}, frame ALLOCATED and filled). */
    public void setDst(int i, long mpfn) {
        dst[i] = mpfn;
    }

    /** The driver gives page {@code i} up: it keeps its source, with this reason. */
    public void fail(int i, MigrateResult reason) {
        if (reason == MigrateResult.MIGRATED) {
            throw new IllegalArgumentException("fail() needs a reason, not MIGRATED");
        }
        src[i] &= ~MigratePfn.MIGRATE;
        result[i] = (byte) reason.ordinal();
    }

    /**
     * Page {@code i}'s result; meaningful after finalize (before it, null for pages still migrating). Null for pages
     * outside the mask.
     */
    public MigrateResult result(int i) {
        return result[i] == UNDECIDED ? null : MigrateResult.of(result[i]);
    }

    public long address(int i) {
        return start + ((long) i << mm.pageShift);
    }

    // ------------------------------------------------------------------ phase 2

    /** {@code migrate_vma_pages}: moves the reverse map to each destination and inserts populated holes. */
    public void pages() {
        checkActive();
        long vpn0 = start >>> mm.pageShift;
        for (int i = 0; i < npages; i++) {
            long s = src[i];
            if (!MigratePfn.isMigrating(s)) {
                continue;
            }
            long d = dst[i];
            if (!MigratePfn.isValid(d)) {
                fail(i, result[i] != UNDECIDED ? MigrateResult.of(result[i]) : noFrameReason());
                continue;
            }
            long dpfn = MigratePfn.pfn(d);
            MemoryNode dn = engine.node(Pfn.node(dpfn));
            int di = Pfn.index(dpfn);
            if (!MigratePfn.isValid(s)) {
                insertHole(i, vpn0 + i, dn, dpfn);
                continue;
            }
            long spfn = MigratePfn.pfn(s);
            MemoryNode sn = engine.node(Pfn.node(spfn));
            dn.table.soRmap(di, sn.table.laRmap(Pfn.index(spfn)));
            if (sn.table.testFlag(Pfn.index(spfn), FrameTable.FLAG_DIRTY)) {
                dn.table.updateFlag(di, FrameTable.FLAG_DIRTY, true); // folio_migrate_flags: PG_dirty moves along
            }
        }
    }

    private MigrateResult noFrameReason() {
        return target != null && target.type() == MemoryType.SYSTEM_RAM ? MigrateResult.OUT_OF_RAM
                : MigrateResult.OUT_OF_DEVICE_MEMORY;
    }

    /** {@code migrate_vma_insert_page}: map a populated hole directly; a racing fault that filled it first wins. */
    private void insertHole(int i, long vpn, MemoryNode dn, long dpfn) {
        Vma vma = mm.findVma(vpn << mm.pageShift);
        long[] leaf = mm.pageTable.leafOrCreate(vpn);
        int s = PageTable.slot(vpn);
        long flags = (vma.prot().canWrite() ? Pte.WRITE : 0) | (vma.prot().canRead() ? 0 : Pte.PROTNONE);
        dn.table.soRmap(Pfn.index(dpfn), Rmap.anon(mm.id(), vpn));
        if (!PageTable.casPte(leaf, s, Pte.NONE, entryFor(dn, dpfn, flags))) {
            fail(i, MigrateResult.BUSY); // finalize frees the destination
            return;
        }
        dn.table.transition(Pfn.index(dpfn), PageState.ALLOCATED, PageState.MAPPED);
    }

    static long entryFor(MemoryNode node, long pfn, long flags) {
        return node.type() == MemoryType.DEVICE_PRIVATE ? Pte.devicePrivate(pfn, flags) : Pte.present(pfn, flags);
    }

    // ------------------------------------------------------------------ phase 3

    /**
     * {@code migrate_vma_finalize}: installs each destination or restores each source, frees what is no longer used,
     * wakes the sleepers, drops the mmap read lock.
     */
    public void finalizeMigration() {
        checkActive();
        try {
            long vpn0 = start >>> mm.pageShift;
            int pageSize = mm.pageSize;
            finalizeLeaf = null;
            for (int i = 0; i < npages; i++) {
                finalizePage(i, vpn0 + i);
            }
            finalizeLeaf = null; // no reference to a leaf outlives the call
            lruEvents.publish();
            srcFree.releaseAll(PageState.ISOLATED);
            dstFree.releaseAll(PageState.ALLOCATED);
            if (migratedToDevice > 0) {
                engine.stats.recordMigrated(true, migratedToDevice, migratedToDevice * pageSize);
            }
            if (migratedToRam > 0) {
                engine.stats.recordMigrated(false, migratedToRam, migratedToRam * pageSize);
            }
        } finally {
            active = false;
            mm.mmapLock.readLock().unlock();
        }
    }

    /**
     * The page-table leaf of {@code vpn} for finalize, one walk per 2 MiB block: the page holds a migration entry, so
     * its leaf exists and cannot be unlinked (only an empty leaf is) until this finalize replaces the entry.
     */
    private long[] finalizeLeaf(long vpn) {
        long block = vpn >>> PageTable.LEVEL_BITS;
        if (block != finalizeLeafBlock || finalizeLeaf == null) {
            finalizeLeaf = mm.pageTable.leaf(vpn);
            finalizeLeafBlock = block;
        }
        return finalizeLeaf;
    }

    private void finalizePage(int i, long vpn) {
        if (!selected(i)) {
            return;
        }
        long s = src[i];
        long d = dst[i];
        if (!MigratePfn.isValid(s)) {
            if (MigratePfn.isMigrating(s)) {
                migrated(i, MigratePfn.pfn(d)); // a populated hole, mapped by pages()
            } else if (MigratePfn.isValid(d)) {
                dstFree.add(MigratePfn.pfn(d));
            }
            return;
        }
        long spfn = MigratePfn.pfn(s);
        MemoryNode sn = engine.node(Pfn.node(spfn));
        long rmap = sn.table.laRmap(Pfn.index(spfn));
        if (Rmap.isFile(rmap)) {
            finalizeFilePage(i, vpn, s, d, spfn, sn, rmap);
            return;
        }
        long[] leaf = finalizeLeaf(vpn);
        int slot = PageTable.slot(vpn);
        long mig = PageTable.laPte(leaf, slot);
        if (!Pte.isMigration(mig) || Pte.pfn(mig) != spfn) {
            throw new IllegalStateException("migrate_vma: entry of page 0x" + Long.toHexString(vpn << mm.pageShift)
                    + " is " + Pte.toString(mig) + ", expected the migration entry for " + Pfn.toString(spfn));
        }
        if (MigratePfn.isMigrating(s) && !MigratePfn.isValid(d)) {
            fail(i, noFrameReason()); // pages() was skipped: nothing was committed
            s = src[i];
        }
        if (MigratePfn.isMigrating(s)) {
            long dpfn = MigratePfn.pfn(d);
            MemoryNode dn = engine.node(Pfn.node(dpfn));
            dn.table.transition(Pfn.index(dpfn), PageState.ALLOCATED, PageState.MAPPED);
            if (!PageTable.casPte(leaf, slot, mig, entryFor(dn, dpfn, Pte.flags(mig)))) {
                throw new IllegalStateException("migration entry changed under its owner at 0x"
                        + Long.toHexString(vpn << mm.pageShift));
            }
            srcFree.add(spfn);
            migrated(i, dpfn);
        } else {
            sn.table.transition(Pfn.index(spfn), PageState.ISOLATED, PageState.MAPPED);
            lruEvents.insert(sn, Pfn.index(spfn)); // putback_lru_page
            if (!PageTable.casPte(leaf, slot, mig, entryFor(sn, spfn, Pte.flags(mig)))) {
                throw new IllegalStateException("migration entry changed under its owner at 0x"
                        + Long.toHexString(vpn << mm.pageShift));
            }
            if (MigratePfn.isValid(d)) {
                dstFree.add(MigratePfn.pfn(d));
            }
        }
        engine.waits.wake(spfn);
    }

    /** A page-cache page: the cache entry gets the destination (or the source back); this mapping is re-installed. */
    private void finalizeFilePage(int i, long vpn, long s, long d, long spfn, MemoryNode sn, long rmap) {
        MappedFile file = engine.file(Rmap.space(rmap));
        long index = Rmap.key(rmap);
        if (MigratePfn.isMigrating(s) && !MigratePfn.isValid(d)) {
            fail(i, noFrameReason());
            s = src[i];
        }
        long entry;
        if (MigratePfn.isMigrating(s)) {
            long dpfn = MigratePfn.pfn(d);
            MemoryNode dn = engine.node(Pfn.node(dpfn));
            dn.table.transition(Pfn.index(dpfn), PageState.ALLOCATED, PageState.MAPPED);
            entry = entryFor(dn, dpfn, 0);
            file.unlock(index, spfn, entry);
            srcFree.add(spfn);
            migrated(i, dpfn);
        } else {
            sn.table.transition(Pfn.index(spfn), PageState.ISOLATED, PageState.MAPPED);
            lruEvents.insert(sn, Pfn.index(spfn));
            entry = entryFor(sn, spfn, 0);
            file.unlock(index, spfn, entry);
            if (MigratePfn.isValid(d)) {
                dstFree.add(MigratePfn.pfn(d));
            }
        }
        long va = vpn << mm.pageShift;
        Vma vma = mm.findVma(va);
        if (vma != null && vma.file() == file) {
            file.install(mm, vma, va, index, entry); // spare this mapping the refault (best effort)
        }
    }

    private void migrated(int i, long dpfn) {
        result[i] = (byte) MigrateResult.MIGRATED.ordinal();
        MemoryNode dn = engine.node(Pfn.node(dpfn));
        lruEvents.insert(dn, Pfn.index(dpfn));
        if (dn.type().isDevice()) {
            migratedToDevice++;
        } else {
            migratedToRam++;
        }
    }

    private void checkActive() {
        if (!active) {
            throw new IllegalStateException("migrate_vma: no setup in progress");
        }
    }
}
