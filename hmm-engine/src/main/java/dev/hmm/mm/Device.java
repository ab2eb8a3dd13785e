package dev.hmm.mm;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.LongAdder;

/**
 * A device attached to the engine: its memory node and {@link DevicePagemap}, its copy engine, its mirror tables
 * (one {@link DeviceMirror} per address space it touches), its fault buffer, and the device side of the data path
 * ({@code lib/test_hmm.c}'s dmirror, with UVM's batched fault servicing).
 *
 * <h2>Device access path</h2>
 * <pre>
 *  slot.enter(); e = mirror entry (volatile)
 *  usable (present or exclusive; writable for a write; exclusive or local for an atomic on RAM)?
 *      copy bytes from the frame it names (local, or remote over the link); slot.exit()
 *  otherwise: slot.exit(); raise a fault into the fault buffer; wait for replay; retry
 * </pre>
 * A {@link #touch} moves no bytes, so it takes no {@link Tlb} slot: there is nothing for a flush to wait for, and
 * the access takes effect at its entry load (a later migration's collect sees it as an access before the change).
 * The servicing thread migrates faulted pages here in batches (one {@code migrate_vma} per 2 MiB block), maps the
 * ones that cannot move remotely, and programs the mirror under the interval-notifier protocol. Every CPU-side
 * change clears the mirror entries first and the TLB flush after it waits for device accessors, so device accesses,
 * CPU faults and migrations of the same pages keep every byte.
 *
 * <h2>CPU faults</h2>
 * As the pagemap's {@code migrateToRam} it migrates the faulting page back to RAM with its copy engine
 * ({@code dmirror_devmem_fault}); a copy failure is the CPU's {@link BusErrorException}.
 */
public final class Device implements AutoCloseable {
    private final HmmEngine engine;
    private final DeviceDriver driver;
    private final MemoryNode node;
    private final DevicePagemap pagemap;
    private final LongAdder pagesFreed = new LongAdder();
    /** Revocations of this device's exclusive entries its mirrors were told about. */
    final LongAdder exclusiveRevocationsSeen = new LongAdder();
    private final FaultServiceConfig faultConfig;
    private final FaultBuffer faults;
    private final EvictionConfig evictionConfig;
    /** The LRU surrogate, or null without eviction (no recording cost then). */
    final LruSurrogate lru;
    final DeviceReclaim reclaim;

    Device(HmmEngine engine, DeviceDriver driver, MemoryNode node, FaultServiceConfig faultConfig,
            EvictionConfig evictionConfig) {
        this.engine = engine;
        this.driver = driver;
        this.node = node;
        this.faultConfig = faultConfig;
        this.pagemap = new DevicePagemap(driver.memoryType(), driver.owner(), node, new DevicePagemap.Ops() {
            @Override
            public void migrateToRam(VmFault fault) {
                Device.this.migrateToRam(fault);
            }

            @Override
            public void pageFree(long pfn) {
                pagesFreed.increment();
            }

            @Override
            public void pagesFree(int nodeId, int[] frames, int from, int n) {
                pagesFreed.add(n);
            }
        });
        node.attach(pagemap);
        this.evictionConfig = evictionConfig;
        if (evictionConfig.enabled() && node.type().movable()) {
            this.lru = new LruSurrogate(this, evictionConfig.policy());
            node.lru = lru;
            this.reclaim = new DeviceReclaim(engine, this, lru, evictionConfig);
        } else {
            this.lru = null;
            this.reclaim = null;
        }
        this.faults = new FaultBuffer(this, engine, faultConfig);
    }

    public EvictionConfig evictionConfig() {
        return evictionConfig;
    }

    /** The eviction policy's name, or "none". */
    public String evictionPolicy() {
        return lru == null ? "none" : lru.policy.name();
    }

    /**
     * Evicts up to {@code pages} of this device's pages to RAM now, through the LRU surrogate and its policy
     * ({@code migrate_device_range} of the policy's victims).
     *
     * @return pages evicted
     */
    public int evict(int pages) {
        if (reclaim == null) {
            throw new IllegalStateException("device " + name() + " has no eviction policy");
        }
        return reclaim.reclaim(pages);
    }

    /**
     * Pins this device's frames under {@code [va, va+length)} where they are (a device-side pin, as a driver holding
     * pages for DMA takes extra references): the pages are never evicted or migrated while pinned
     * ({@link MigrateResult#PINNED}); a CPU touch of a pinned device-private page is a {@link BusErrorException}.
     * Pages of the range not on this device are skipped.
     *
     * @return the pinned range (close it to unpin)
     */
    public PinnedRange pinResident(AddressSpace mm, long va, long length) {
        checkAccess(mm, va, length);
        java.util.List<Long> pinned = new java.util.ArrayList<>();
        for (long page = va & ~mm.pageMask; page < va + length; page += mm.pageSize) {
            long pte = mm.pte(page);
            int k = Pte.kind(pte);
            if ((k == Pte.KIND_DEVICE_PRIVATE || k == Pte.KIND_PRESENT) && Pfn.node(Pte.pfn(pte)) == node.id()
                    && node.table.tryPin(Pfn.index(Pte.pfn(pte)))) {
                long now = mm.pte(page);
                int nk = Pte.kind(now);
                if ((nk == Pte.KIND_DEVICE_PRIVATE || nk == Pte.KIND_PRESENT) && Pte.pfn(now) == Pte.pfn(pte)) {
                    pinned.add(Pte.pfn(pte));
                } else {
                    node.table.unpin(Pfn.index(Pte.pfn(pte)));
                }
            }
        }
        return new PinnedRange(mm, va, va + length, pinned.stream().mapToLong(Long::longValue).toArray());
    }

    HmmEngine engine() {
        return engine;
    }

    public FaultServiceConfig faultConfig() {
        return faultConfig;
    }

    /** Revocations of this device's exclusive access that its mirrors saw (a CPU or another device touched). */
    public long exclusiveRevocationsSeen() {
        return exclusiveRevocationsSeen.sum();
    }

    /** This device's mirror table of {@code mm}, created (and subscribed to invalidations) on first use. */
    DeviceMirror mirror(AddressSpace mm) {
        DeviceMirror[] ms = mm.mirrors;
        int id = node.id();
        DeviceMirror m = id < ms.length ? ms[id] : null;
        return m != null ? m : mm.mirror(this);
    }

    public String name() {
        return driver.name();
    }

    public MemoryNode node() {
        return node;
    }

    public DevicePagemap pagemap() {
        return pagemap;
    }

    public MemoryType memoryType() {
        return node.type();
    }

    public Object owner() {
        return pagemap.owner();
    }

    public DeviceDriver driver() {
        return driver;
    }

    public CopyEngine copyEngine() {
        return driver.copyEngine();
    }

    public long freeFrames() {
        return node.freeFrames();
    }

    /** Device frames returned through {@code pageFree} so far. */
    public long pagesFreed() {
        return pagesFreed.sum();
    }

    // ------------------------------------------------------------------ migration

    /** Migrates {@code [va, va+length)} of {@code mm} onto this device (other devices' pages through RAM). */
    public MigrationResult migrate(AddressSpace mm, long va, long length) {
        return engine.migrate(mm, va, length, this);
    }

    /** {@code dmirror_devmem_fault}: bring the faulting page back to RAM. */
    void migrateToRam(VmFault fault) {
        AddressSpace mm = fault.mm();
        long page = fault.address() & ~(long) (mm.pageSize - 1);
        MigrationResult r = engine.migrator.toRam(mm, page, page + mm.pageSize, this);
        switch (r.result(0)) {
            case COPY_FAILED -> throw new BusErrorException(fault.address(),
                    "device " + name() + " could not copy the page back to RAM");
            case PINNED -> throw new BusErrorException(fault.address(),
                    "the page is pinned on device " + name() + " and cannot come back to RAM");
            case OUT_OF_RAM -> throw new OutOfFramesException(engine.ram().name(), fault.address());
            default -> {
                // MIGRATED, or a race (busy, already moved, unmapped): the faulting access retries and sorts it out
            }
        }
    }

    // ------------------------------------------------------------------ device access

    /** A device read of {@code dst.length} bytes at {@code va} of {@code mm}. */
    public void read(AddressSpace mm, long va, byte[] dst) {
        access(mm, va, dst.length, AccessType.READ, MemorySegment.ofArray(dst));
    }

    /** A device write of {@code src} at {@code va} of {@code mm}. */
    public void write(AddressSpace mm, long va, byte[] src) {
        access(mm, va, src.length, AccessType.WRITE, MemorySegment.ofArray(src));
    }

    /**
     * A device atomic (read-modify-write) storing {@code src} at {@code va}: needs the page here, or held
     * device-exclusive if it stays in RAM (see {@link FaultServiceConfig#exclusiveAtomics()}).
     */
    public void atomicWrite(AddressSpace mm, long va, MemorySegment src) {
        access(mm, va, src.byteSize(), AccessType.ATOMIC, src);
    }

    public void read(AddressSpace mm, long va, MemorySegment dst) {
        access(mm, va, dst.byteSize(), AccessType.READ, dst);
    }

    public void write(AddressSpace mm, long va, MemorySegment src) {
        access(mm, va, src.byteSize(), AccessType.WRITE, src);
    }

    /** A device access without data (the METADATA plane's access). */
    public void touch(AddressSpace mm, long va, long length, AccessType type) {
        access(mm, va, length, type, null);
    }

    /**
     * Maps the pages a migration is bringing here, between {@code migrate_vma_pages} and finalize
     * ({@code dmirror_migrate_finalize_and_map}). Each page is isolated behind its migration entry, but an
     * invalidation that began before this migration's collect ended may still be in flight and about to collect the
     * page once it is installed: so the interval stamp taken after collect must be unchanged (checked under the mirror
     * lock), else nothing is mapped and the pages fault in through the normal protocol. Populated holes are left to fault: {@code pages()} already made them live, so they are not
     * protected by a migration entry any more. Writable if the source was writable and anonymous (so a write to a
     * file page still faults once and dirties the CPU entry).
     */
    void mapMigrated(MigrateVma mv, long stamp) {
        AddressSpace mm = mv.mm();
        DeviceMirror mirror = mirror(mm);
        mirror.lock.lock();
        try {
            if (mirror.notifier.stamp(mv.start(), mv.address(mv.npages())) != stamp) {
                return;
            }
            long[] leaf = null;
            long leafBlock = -1;
            for (int i = 0; i < mv.npages(); i++) {
                long s = mv.src(i);
                if (!MigratePfn.isMigrating(s) || !MigratePfn.isValid(s)) {
                    continue;
                }
                long va = mv.address(i);
                long vpn = va >>> mm.pageShift;
                if (vpn >>> PageTable.LEVEL_BITS != leafBlock) {
                    leaf = mirror.leafOrCreate(vpn);
                    leafBlock = vpn >>> PageTable.LEVEL_BITS;
                }
                long dpfn = MigratePfn.pfn(mv.dst(i));
                Vma vma = mm.findVma(va);
                boolean writable = vma != null && vma.prot().canWrite() && MigratePfn.isWrite(s) && vma.isAnonymous();
                DeviceMirror.program(leaf, vpn, Pte.present(dpfn, writable ? Pte.WRITE : 0));
            }
        } finally {
            mirror.lock.unlock();
        }
    }

    /**
     * {@code HMM_DMIRROR_EXCLUSIVE}: makes {@code [va, va+length)} device-exclusive to this device
     * ({@code make_device_exclusive}): each page is brought to RAM if needed, the CPU entry becomes an exclusive
     * entry, and this device maps it for atomics. A later CPU touch revokes it (and this device sees the
     * revocation); until then the CPU cannot access the page without faulting.
     *
     * @return pages made exclusive (pages in memory that never moves to RAM are left as they are)
     */
    public int makeExclusive(AddressSpace mm, long va, long length) {
        checkAccess(mm, va, length);
        int made = 0;
        long end = va + length;
        for (long page = va & ~mm.pageMask; page < end; page += mm.pageSize) {
            if (engine.makeDeviceExclusive(mm, page, this)) {
                made++;
                access(mm, page, 1, AccessType.ATOMIC, null); // map it here for atomics
            }
        }
        return made;
    }

    /** {@code HMM_DMIRROR_CHECK_EXCLUSIVE}: whether this device's mirror holds {@code va} exclusively. */
    public boolean isExclusive(AddressSpace mm, long va) {
        return Pte.isExclusive(mirror(mm).entry(va & ~mm.pageMask));
    }

    /** The raw mirror entry of {@code va} (see {@link DeviceMirror}); {@link Pte#NONE} when not mapped here. */
    public long mirrorEntry(AddressSpace mm, long va) {
        return mirror(mm).entry(va & ~mm.pageMask);
    }

    private void checkAccess(AddressSpace mm, long va, long len) {
        if (mm.engine() != engine) {
            throw new IllegalArgumentException("address space " + mm + " belongs to another engine");
        }
        if (len < 0 || va < 0 || va + len < va) {
            throw new IllegalArgumentException(String.format("bad access range 0x%x + %d", va, len));
        }
    }

    private void access(AddressSpace mm, long va, long len, AccessType type, MemorySegment buf) {
        checkAccess(mm, va, len);
        if (buf != null && engine.config().dataPlane() != DataPlane.REAL) {
            throw new IllegalStateException("the METADATA data plane has no bytes to read or write; use touch()");
        }
        DeviceMirror mirror = mirror(mm);
        boolean write = type.isWrite();
        Tlb.Slot slot = buf != null ? engine.tlb.slot() : null;
        long end = va + len;
        long bufOff = 0;
        if (len > mm.pageSize - (va & mm.pageMask)) {
            prefault(mm, mirror, va, end, type); // fault every missing page of the access in one go
        }
        long[] leaf = null; // the mirror leaf of block leafBlock: one walk per 2 MiB block, again after a fault
        long leafBlock = -1;
        while (va < end) {
            int off = (int) (va & mm.pageMask);
            long n = Math.min(mm.pageSize - off, end - va);
            long vpn = va >>> mm.pageShift;
            for (;;) {
                // The slot guards the frame's bytes against a migrator that has just changed the entry; a touch
                // (no bytes) linearizes at its entry load and needs no grace period, so it skips both fences.
                if (buf != null) {
                    slot.enter();
                }
                if (vpn >>> PageTable.LEVEL_BITS != leafBlock) {
                    leaf = mirror.leaf(vpn);
                    leafBlock = vpn >>> PageTable.LEVEL_BITS;
                }
                long e = DeviceMirror.entry(leaf, vpn);
                if (usable(e, type)) {
                    if (buf != null) {
                        copy(Pte.pfn(e), off, n, write, buf, bufOff);
                        slot.exit();
                    }
                    if ((e & Pte.REMOTE) != 0) {
                        engine.stats.remoteAccesses.increment();
                    } else if (lru != null) {
                        lru.recordAccess(Pfn.index(Pte.pfn(e)));
                    }
                    break;
                }
                if (buf != null) {
                    slot.exit();
                }
                faults.raise(mm, va & ~mm.pageMask, type);
                leafBlock = -1; // the service may have created the leaf, or a stale one read NONE
            }
            va += n;
            bufOff += n;
        }
    }

    /**
     * Raises faults for every page of {@code [va, end)} the mirror cannot serve, all at once (a warp missing on many
     * pages), so the fault buffer sees them together and services them in batches; then waits. Pages that change
     * again before the copy loop reaches them fault once more, one at a time.
     */
    private void prefault(AddressSpace mm, DeviceMirror mirror, long va, long end, AccessType type) {
        int max = faultConfig.maxBatch();
        long[] missing = new long[(int) Math.min(max, ((end - 1 - (va & ~mm.pageMask)) >>> mm.pageShift) + 1)];
        int n = 0;
        long[] leaf = null;
        long leafBlock = -1;
        for (long page = va & ~mm.pageMask; page < end; page += mm.pageSize) {
            long vpn = page >>> mm.pageShift;
            if (vpn >>> PageTable.LEVEL_BITS != leafBlock) {
                leaf = mirror.leaf(vpn);
                leafBlock = vpn >>> PageTable.LEVEL_BITS;
            }
            if (!usable(DeviceMirror.entry(leaf, vpn), type)) {
                missing[n++] = page;
                if (n == missing.length) {
                    faults.raiseAll(mm, missing, n, type);
                    n = 0;
                    leafBlock = -1;
                }
            }
        }
        if (n > 0) {
            faults.raiseAll(mm, missing, n, type);
        }
    }

    /**
     * Whether a mirror entry allows an access: present or exclusive; writable for writes and atomics; an atomic on a
     * RAM page reached remotely needs device exclusivity (the CPU could race it otherwise), or, for a page-cache page,
     * an entry marked for atomics over the link ({@link Pte#LINK_ATOMIC}).
     */
    static boolean usable(long e, AccessType type) {
        int k = Pte.kind(e);
        if (k != Pte.KIND_PRESENT && k != Pte.KIND_EXCLUSIVE) {
            return false;
        }
        if (type.isWrite() && (e & Pte.WRITE) == 0) {
            return false;
        }
        return type != AccessType.ATOMIC || k == Pte.KIND_EXCLUSIVE || (e & Pte.REMOTE) == 0
                || Pfn.node(Pte.pfn(e)) != 0 || (e & Pte.LINK_ATOMIC) != 0;
    }

    /**
     * The mirror entry for an {@code hmm_range_fault} output slot: writable if {@code writable} is asked and the CPU
     * entry is writable.
     */
    static long mirrorEntry(long slot, boolean writable, int nodeId) {
        long pfn = HmmRange.pfn(slot);
        long w = writable && (slot & HmmRange.PFN_WRITE) != 0 ? Pte.WRITE : 0;
        if ((slot & HmmRange.PFN_EXCLUSIVE) != 0) {
            return Pte.exclusive(pfn, nodeId, w | Pte.REMOTE);
        }
        return Pfn.node(pfn) == nodeId ? Pte.present(pfn, w) : Pte.present(pfn, w | Pte.REMOTE);
    }

    private void copy(long pfn, int off, long n, boolean write, MemorySegment buf, long bufOff) {
        MemoryNode where = engine.node(Pfn.node(pfn));
        long at = where.offset(Pfn.index(pfn)) + off;
        if (write) {
            where.write(buf, bufOff, at, n);
        } else {
            where.read(at, buf, bufOff, n);
        }
    }

    /** Faults waiting in the buffer now (diagnostics). */
    public int pendingFaults() {
        return faults.pending();
    }

    /** Stops the fault servicing thread and closes the driver; done by {@link HmmEngine#close()}. */
    @Override
    public void close() {
        faults.close();
        if (reclaim != null) {
            reclaim.close();
        }
        driver.close();
    }

    @Override
    public String toString() {
        return "Device[" + name() + ", " + node.type() + ", " + node.frames() + " frames]";
    }
}
