package dev.hmm.mm;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A process address space ({@code struct mm_struct}): its VMAs, its page table of 64-bit entries, and the CPU access
 * path. Thread-safe.
 *
 * <h2>CPU access path</h2>
 * Each page of an access is translated and used inside a {@link Tlb} critical section:
 * <pre>
 *  slot.enter(); pte = lvPte(leaf, slot)
 *  usable (present, not PROT_NONE, writable if writing)?  set A (and D) by CAS if missing; copy bytes; slot.exit()
 *  otherwise: slot.exit(); {@link CpuFaultHandler#handle} (first touch, write-protect, device-private
 *             migrate_to_ram, migration-entry wait); retry
 * </pre>
 * A touch without bytes (the METADATA plane) skips the slot: the slot exists so that a flush can wait for the bytes.
 * No lock is taken on the access path of a resident page. Faults take the mmap read lock where they install entries;
 * {@code mmap}, {@code munmap} and {@code mprotect} take it for writing (the {@code mmap_lock} of Linux).
 *
 * <h2>VMAs</h2>
 * An immutable, sorted array replaced under the mmap write lock and read without locks (RCU-style, as the maple tree
 * is walked under RCU).
 */
public final class AddressSpace implements AutoCloseable {
    private final HmmEngine engine;
    private final int id;
    final PageTable pageTable;
    final int pageShift;
    final int pageSize;
    final long pageMask;
    final ReentrantReadWriteLock mmapLock = new ReentrantReadWriteLock();
    private volatile Vma[] vmas = new Vma[0];
    /** Interval notifiers, copy-on-write (registration is rare, invalidation frequent). */
    private volatile MmuIntervalNotifier[] notifiers = new MmuIntervalNotifier[0];
    /** Guards {@link #activeInvalidations} and {@link #deferred} (the {@code subscriptions->lock} of Linux). */
    private final Object notifierLock = new Object();
    private int activeInvalidations;
    private final java.util.List<MmuIntervalNotifier> deferred = new ArrayList<>();
    /** Device mirror tables of this address space, indexed by device node id; copy-on-write. */
    volatile DeviceMirror[] mirrors = new DeviceMirror[0];
    private long nextVa; // guarded by mmapLock write
    private volatile boolean closed;

    AddressSpace(HmmEngine engine, int id) {
        this.engine = engine;
        this.id = id;
        this.pageShift = engine.config().pageShift();
        this.pageSize = engine.config().pageSize();
        this.pageMask = pageSize - 1;
        this.pageTable = new PageTable(pageShift);
        this.nextVa = Math.max(1L << 30, pageSize);
    }

    public int id() {
        return id;
    }

    public HmmEngine engine() {
        return engine;
    }

    public int pageSize() {
        return pageSize;
    }

    // ------------------------------------------------------------------ interval notifiers

    /**
     * Subscribes to invalidations of {@code [start, end)} ({@code mmu_interval_notifier_insert}). The callback runs
     * before any CPU entry in the range changes.
     */
    public MmuIntervalNotifier registerNotifier(long start, long end, MmuIntervalNotifier.Ops ops) {
        MmuIntervalNotifier n = new MmuIntervalNotifier(start, end, ops);
        synchronized (notifierLock) {
            MmuIntervalNotifier[] cur = notifiers;
            MmuIntervalNotifier[] next = Arrays.copyOf(cur, cur.length + 1);
            next[cur.length] = n;
            notifiers = next;
            if (activeInvalidations > 0) {
                // invalidations in flight did not see it: its readers wait until they have all ended
                n.pending = true;
                deferred.add(n);
            }
        }
        return n;
    }

    /** {@code mmu_interval_notifier_remove}. */
    public void unregisterNotifier(MmuIntervalNotifier n) {
        synchronized (notifierLock) {
            notifiers = Arrays.stream(notifiers).filter(x -> x != n).toArray(MmuIntervalNotifier[]::new);
            deferred.remove(n);
        }
    }

    /**
     * {@code mmu_notifier_invalidate_range_start}: every subscriber overlapping {@code [start, end)} drops its device
     * entries there before the caller changes CPU entries; close the returned range when the change is done.
     *
     * @param owner the device owner doing the change (a migration), or null
     */
    MmuNotifierRange invalidateRangeStart(long start, long end, MmuNotifierEvent event, Object owner) {
        MmuNotifierRange r;
        synchronized (notifierLock) {
            activeInvalidations++;
            r = new MmuNotifierRange(this, start, end, notifiers);
        }
        r.begin(event, owner);
        return r;
    }

    /** An invalidation ended; when none is left, notifiers registered meanwhile become readable. */
    void invalidationEnded() {
        synchronized (notifierLock) {
            if (--activeInvalidations == 0 && !deferred.isEmpty()) {
                for (MmuIntervalNotifier n : deferred) {
                    n.pending = false;
                }
                deferred.clear();
            }
        }
    }

    synchronized DeviceMirror mirror(Device device) {
        int id = device.node().id();
        DeviceMirror[] cur = mirrors;
        if (id < cur.length && cur[id] != null) {
            return cur[id];
        }
        DeviceMirror m = new DeviceMirror(device, this);
        DeviceMirror[] next = Arrays.copyOf(cur, Math.max(cur.length, id + 1));
        next[id] = m;
        mirrors = next;
        return m;
    }

    /**
     * {@code hmm_range_fault}: snapshots or faults {@code range} and fills its pfns (see {@link HmmRange}). Use it
     * inside the interval-notifier protocol ({@link MmuIntervalNotifier#readBegin} before, {@code readRetry} under the
     * driver lock after).
     */
    public HmmRange.Status hmmRangeFault(HmmRange range) {
        checkOpen();
        return engine.rangeFault.walk(this, range);
    }

    // ------------------------------------------------------------------ VMAs

    /**
     * Maps {@code length} bytes of anonymous private memory ({@code mmap(MAP_ANONYMOUS|MAP_PRIVATE)}). No frame is
     * allocated: the first touch of each page maps a zeroed RAM frame.
     *
     * @return the start address, aligned to 2 MiB (or the page size if larger)
     */
    public long mmap(long length, Prot prot) {
        checkOpen();
        if (length <= 0) {
            throw new IllegalArgumentException("mmap length must be positive: length=" + length);
        }
        mmapLock.writeLock().lock();
        try {
            long start = placeVma(length);
            insertVma(new Vma(start, start + alignUp(length), prot));
            return start;
        } finally {
            mmapLock.writeLock().unlock();
        }
    }

    /**
     * Maps {@code length} bytes of a device's memory in place, starting at byte {@code offset} of it (a DAX mapping:
     * {@code mmap} of a device-dax or fsdax file over persistent memory). The CPU reads and writes the device frames
     * directly; the pages are never migrated ({@link MigrateResult#UNMOVABLE} for persistent memory) and keep their
     * bytes after unmap. A range of device memory can be DAX-mapped by one VMA at a time.
     */
    public long mmapDax(Device device, long offset, long length, Prot prot) {
        checkOpen();
        MemoryNode node = device.node();
        if (node.type() != MemoryType.DEVICE_PERSISTENT) {
            throw new IllegalArgumentException("DAX mappings map persistent memory; " + device.name() + " is "
                    + node.type());
        }
        if (length <= 0 || (offset & pageMask) != 0 || offset < 0 || offset + alignUp(length) > node.capacityBytes()) {
            throw new IllegalArgumentException(String.format("DAX range [%d, %d) does not fit %s's %d bytes in pages",
                    offset, offset + length, device.name(), node.capacityBytes()));
        }
        int first = (int) (offset >>> pageShift);
        int count = (int) (alignUp(length) >>> pageShift);
        mmapLock.writeLock().lock();
        try {
            node.claimLinear(first, count);
            long start = placeVma(length);
            insertVma(new Vma(start, start + alignUp(length), prot, node, first, null, 0, false));
            return start;
        } finally {
            mmapLock.writeLock().unlock();
        }
    }

    /**
     * Maps {@code length} bytes of {@code file} from byte {@code offset} ({@code mmap} of a file): {@code shared}
     * (MAP_SHARED: writes reach the file through its page cache and writeback) or private (MAP_PRIVATE: pages are
     * read from the file, a write copies the page, the file never changes). Pages are read on first touch.
     *
     * @throws IllegalArgumentException for a range beyond the end of the file, an unaligned offset, or a writable
     *     shared mapping of a file opened read-only
     */
    public long mmapFile(MappedFile file, long offset, long length, Prot prot, boolean shared) {
        checkOpen();
        if (file.isClosed()) {
            throw new IllegalArgumentException(file.path() + " is closed");
        }
        if (length <= 0 || offset < 0 || (offset & pageMask) != 0) {
            throw new IllegalArgumentException(String.format("mmap of %s needs a page-aligned offset and a positive "
                    + "length: offset=%d length=%d", file.path(), offset, length));
        }
        if (offset + length > file.size()) {
            throw new IllegalArgumentException(String.format("mapping [%d, %d) of %s is beyond its end (%d bytes)",
                    offset, offset + length, file.path(), file.size()));
        }
        if (shared && prot.canWrite() && !file.writable()) {
            throw new IllegalArgumentException(file.path() + " is open read-only: a writable shared mapping of it "
                    + "is not allowed");
        }
        mmapLock.writeLock().lock();
        try {
            long start = placeVma(length);
            insertVma(new Vma(start, start + alignUp(length), prot, null, 0, file, offset >>> pageShift, shared));
            return start;
        } finally {
            mmapLock.writeLock().unlock();
        }
    }

    /**
     * {@code msync(MS_SYNC)}: writes back the dirty pages of the shared file mappings in {@code [va, va+length)}.
     *
     * @return pages written
     */
    public int msync(long va, long length) throws java.io.IOException {
        checkOpen();
        checkRange(va, length, "msync");
        long end = va + alignUp(length);
        int written = 0;
        for (Vma v : vmas) {
            if (!v.isFile() || !v.shared() || v.end() <= va || v.start() >= end) {
                continue;
            }
            long s = Math.max(v.start(), va);
            long e = Math.min(v.end(), end);
            written += v.file().writeback(v.fileIndexAt(s, pageShift), v.fileIndexAt(e - 1, pageShift) + 1);
        }
        return written;
    }

    private long placeVma(long length) {
        long align = Math.max(EngineConfig.PAGE_2M, pageSize);
        long start = (nextVa + align - 1) & -align;
        long end = start + alignUp(length);
        if (end < start || end > (1L << PageTable.VA_BITS)) {
            throw new IllegalArgumentException("mmap of " + length + " bytes does not fit the "
                    + PageTable.VA_BITS + "-bit address space");
        }
        nextVa = end + align; // a guard gap between mappings
        return start;
    }

    private void insertVma(Vma vma) {
        Vma[] cur = vmas;
        Vma[] next = Arrays.copyOf(cur, cur.length + 1);
        next[cur.length] = vma;
        Arrays.sort(next, (a, b) -> Long.compare(a.start(), b.start()));
        publishVmas(cur, next);
    }

    /** Publishes a new VMA array and keeps every mapped file's mapping list ({@code i_mmap}) in step. */
    private void publishVmas(Vma[] before, Vma[] after) {
        vmas = after;
        java.util.Set<MappedFile> touched = new java.util.HashSet<>();
        for (Vma v : before) {
            if (v.isFile()) {
                touched.add(v.file());
            }
        }
        for (Vma v : after) {
            if (v.isFile()) {
                touched.add(v.file());
            }
        }
        for (MappedFile f : touched) {
            List<Vma> mine = new ArrayList<>();
            for (Vma v : after) {
                if (v.file() == f) {
                    mine.add(v);
                }
            }
            f.setMappings(this, mine);
        }
    }

    /** The VMA containing {@code va}, or null. Lock-free (reads the current VMA snapshot). */
    public Vma findVma(long va) {
        Vma[] v = vmas;
        int lo = 0;
        int hi = v.length - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            Vma m = v[mid];
            if (va < m.start()) {
                hi = mid - 1;
            } else if (va >= m.end()) {
                lo = mid + 1;
            } else {
                return m;
            }
        }
        return null;
    }

    /** The current VMAs, sorted by address. */
    public List<Vma> vmas() {
        return List.of(vmas);
    }

    /**
     * Unmaps {@code [va, va+length)} ({@code munmap}): VMAs are cut, every entry is zapped, the TLB is flushed once,
     * then the frames are freed (device frames through their pagemap's {@code pageFree}). A page under migration by
     * eviction is waited for. Refused, before anything changes, if a page in the range is pinned.
     */
    public void munmap(long va, long length) {
        checkOpen();
        checkRange(va, length, "munmap");
        long end = va + alignUp(length);
        mmapLock.writeLock().lock();
        try {
            refuseIfPinned(va, end);
            Vma[] before = vmas;
            publishVmas(before, cut(before, va, end, null));
            try (MmuNotifierRange r = invalidateRangeStart(va, end, MmuNotifierEvent.UNMAP, null)) {
                zap(va >>> pageShift, end >>> pageShift, r.cleared());
            }
            unclaimDax(before, va, end);
            writebackUnmapped(before, va, end);
        } finally {
            mmapLock.writeLock().unlock();
        }
    }

    /**
     * Changes the protection of {@code [va, va+length)} ({@code mprotect}). Downgrades take effect in the entries
     * (write bit cleared, or PROT_NONE set) and are flushed from the TLB before this returns.
     */
    public void mprotect(long va, long length, Prot prot) {
        checkOpen();
        checkRange(va, length, "mprotect");
        long end = va + alignUp(length);
        mmapLock.writeLock().lock();
        try {
            for (long a = va; a < end; a += pageSize) {
                if (findVma(a) == null) {
                    throw new SegmentationFaultException(a, "mprotect of an unmapped range");
                }
            }
            publishVmas(vmas, cut(vmas, va, end, prot));
            try (MmuNotifierRange r = invalidateRangeStart(va, end, MmuNotifierEvent.PROTECTION, null)) {
                boolean changed = r.cleared();
                for (long vpn = va >>> pageShift; vpn < end >>> pageShift; vpn++) {
                    long[] leaf = pageTable.leaf(vpn);
                    if (leaf == null) {
                        vpn |= PageTable.SLOT_MASK; // skip the whole missing leaf
                        continue;
                    }
                    changed |= protectEntry(leaf, PageTable.slot(vpn), prot);
                }
                if (changed) {
                    engine.tlb.flush();
                }
            }
        } finally {
            mmapLock.writeLock().unlock();
        }
    }

    private boolean protectEntry(long[] leaf, int s, Prot prot) {
        for (;;) {
            long pte = PageTable.laPte(leaf, s);
            int k = Pte.kind(pte);
            if (k == Pte.KIND_NONE) {
                return false;
            }
            if (k == Pte.KIND_MIGRATION) {
                engine.cpuFaults.migrationEntryWait(leaf, s, pte);
                continue;
            }
            long n = pte;
            if (!prot.canRead()) {
                n |= Pte.PROTNONE;
            } else {
                n &= ~Pte.PROTNONE;
            }
            if (!prot.canWrite()) {
                n &= ~Pte.WRITE;
            }
            // Upgrades to writable happen lazily, by write-protect fault (do_wp_page).
            if (n == pte || PageTable.casPte(leaf, s, pte, n)) {
                return n != pte;
            }
        }
    }

    private Vma[] cut(Vma[] cur, long start, long end, Prot newProt) {
        List<Vma> out = new ArrayList<>(cur.length + 2);
        for (Vma v : cur) {
            if (v.end() <= start || v.start() >= end) {
                out.add(v);
                continue;
            }
            if (v.start() < start) {
                out.add(v.withRange(v.start(), start, pageShift));
            }
            if (newProt != null) {
                out.add(v.withRange(Math.max(v.start(), start), Math.min(v.end(), end), pageShift).withProt(newProt));
            }
            if (v.end() > end) {
                out.add(v.withRange(end, v.end(), pageShift));
            }
        }
        return out.toArray(new Vma[0]);
    }

    /** Writeback on unmap: the dirty pages of shared file mappings in {@code [start, end)} go to their files. */
    private void writebackUnmapped(Vma[] before, long start, long end) {
        for (Vma v : before) {
            if (!v.isFile() || !v.shared() || v.end() <= start || v.start() >= end || v.file().isClosed()) {
                continue;
            }
            long s = Math.max(v.start(), start);
            long e = Math.min(v.end(), end);
            try {
                v.file().writeback(v.fileIndexAt(s, pageShift), v.fileIndexAt(e - 1, pageShift) + 1);
            } catch (java.io.IOException ex) {
                throw new java.io.UncheckedIOException("munmap of " + v + ": writeback failed (the dirty pages stay "
                        + "in the page cache)", ex);
            }
        }
    }

    /** Gives the DAX frames of {@code [start, end)} that were never touched back to their device. */
    private void unclaimDax(Vma[] before, long start, long end) {
        for (Vma v : before) {
            if (!v.isDax() || v.end() <= start || v.start() >= end) {
                continue;
            }
            long s = Math.max(v.start(), start);
            long e = Math.min(v.end(), end);
            v.dax().unclaimLinear(v.daxFrameAt(s, pageShift), (int) ((e - s) >>> pageShift));
        }
    }

    private void refuseIfPinned(long start, long end) {
        for (long vpn = start >>> pageShift; vpn < end >>> pageShift; vpn++) {
            long pte = pageTable.laPte(vpn);
            if (Pte.isPresent(pte) || Pte.isDevicePrivate(pte)) {
                long pfn = Pte.pfn(pte);
                if (engine.node(Pfn.node(pfn)).table.pins(Pfn.index(pfn)) > 0) {
                    throw new IllegalStateException(String.format(
                            "munmap of [0x%x, 0x%x): page 0x%x is pinned; unpin it first", start, end,
                            vpn << pageShift));
                }
            }
        }
    }

    /** Frames gathered by {@link #zap} before a TLB flush frees them (Linux: a few pages of frame pointers). */
    private static final int ZAP_GATHER_FRAMES = 1 << 14;

    /**
     * Zaps entries {@code [startVpn, endVpn)}: CAS each to none, one TLB flush, then free the frames
     * ({@code zap_pte_range} + {@code tlb_finish_mmu}). Caller holds the mmap write lock. The gather is bounded, as
     * {@code mmu_gather} flushes and frees whenever its batch fills: a terabyte unmap must not hold a frame list of
     * its own size (2 GiB of frame numbers at 1 TiB of 4 KiB pages).
     */
    private void zap(long startVpn, long endVpn, boolean mirrorsCleared) {
        FrameRelease release = new FrameRelease(engine);
        for (long vpn = startVpn; vpn < endVpn; vpn++) {
            if (release.count() >= ZAP_GATHER_FRAMES) {
                engine.tlb.flush();
                release.releaseAll(PageState.MAPPED);
            }
            long[] leaf = pageTable.leaf(vpn);
            if (leaf == null) {
                vpn |= PageTable.SLOT_MASK;
                continue;
            }
            int s = PageTable.slot(vpn);
            for (;;) {
                long pte = PageTable.laPte(leaf, s);
                int k = Pte.kind(pte);
                if (k == Pte.KIND_NONE) {
                    break;
                }
                if (k == Pte.KIND_MIGRATION) {
                    // only a pfn-range migration (eviction) can be in flight: it holds no mmap lock, so waiting is safe
                    engine.cpuFaults.migrationEntryWait(leaf, s, pte);
                    continue;
                }
                // the reverse map is read before the CAS: while the entry names the frame it cannot be freed (droppers
                // zap first) nor re-installed (installs take the mmap lock we hold for writing), so a successful CAS
                // proves the read. Read after it, a page-cache frame dropped meanwhile would look anonymous and be
                // freed a second time, under its next owner.
                long pfn = Pte.pfn(pte);
                long rmap = engine.node(Pfn.node(pfn)).table.laRmap(Pfn.index(pfn));
                if (PageTable.casPte(leaf, s, pte, Pte.NONE)) {
                    if (!Rmap.isFile(rmap)) {
                        release.add(pfn); // page-cache pages belong to their file, not to this mapping
                    }
                    break;
                }
            }
        }
        if (release.count() > 0 || mirrorsCleared) {
            engine.tlb.flush();
            release.releaseAll(PageState.MAPPED);
        }
    }

    // ------------------------------------------------------------------ CPU access

    /** CPU read of {@code dst.length} bytes at {@code va}. */
    public void read(long va, byte[] dst) {
        read(va, dst, 0, dst.length);
    }

    public void read(long va, byte[] dst, int off, int len) {
        java.util.Objects.checkFromIndexSize(off, len, dst.length);
        cpuAccess(va, len, AccessType.READ, MemorySegment.ofArray(dst), off);
    }

    /** CPU write of {@code src} at {@code va}. */
    public void write(long va, byte[] src) {
        write(va, src, 0, src.length);
    }

    public void write(long va, byte[] src, int off, int len) {
        java.util.Objects.checkFromIndexSize(off, len, src.length);
        cpuAccess(va, len, AccessType.WRITE, MemorySegment.ofArray(src), off);
    }

    /** CPU read into a segment (heap or native). */
    public void read(long va, MemorySegment dst) {
        cpuAccess(va, dst.byteSize(), AccessType.READ, dst, 0);
    }

    /** CPU write from a segment (heap or native). */
    public void write(long va, MemorySegment src) {
        cpuAccess(va, src.byteSize(), AccessType.WRITE, src, 0);
    }

    public byte readByte(long va) {
        byte[] b = new byte[1];
        read(va, b);
        return b[0];
    }

    public void writeByte(long va, byte value) {
        write(va, new byte[] {value});
    }

    /**
     * A CPU access without data: the same translation, faults and A/D updates as a read or write, no bytes moved.
     * Works in both data planes (the METADATA plane's only access).
     */
    public void touch(long va, long length, AccessType type) {
        cpuAccess(va, length, type, null, 0);
    }

    void cpuAccess(long va, long len, AccessType type, MemorySegment buf, long bufOff) {
        checkOpen();
        if (len < 0 || va < 0 || va + len < va) {
            throw new IllegalArgumentException(String.format("bad access range 0x%x + %d", va, len));
        }
        if (buf != null && engine.config().dataPlane() != DataPlane.REAL) {
            throw new IllegalStateException("the METADATA data plane has no bytes to read or write; use touch()");
        }
        boolean write = type.isWrite();
        // A touch (no bytes) takes no TLB slot: the slot only keeps a frame's bytes from being copied or reused
        // under an access, and a touch takes effect at its entry load (or its accessed/dirty CAS).
        Tlb.Slot slot = buf != null ? engine.tlb.slot() : null;
        long end = va + len;
        while (va < end) {
            long vpn = va >>> pageShift;
            int off = (int) (va & pageMask);
            long n = Math.min(pageSize - off, end - va);
            long[] leaf = pageTable.leaf(vpn);
            int s = PageTable.slot(vpn);
            for (;;) {
                long pte = Pte.NONE;
                if (leaf != null) {
                    if (slot != null) {
                        slot.enter();
                    }
                    pte = PageTable.lvPte(leaf, s);
                    if (cpuUsable(pte, write)) {
                        long want = pte | Pte.ACCESSED | (write ? Pte.DIRTY : 0);
                        if (want == pte || PageTable.casPte(leaf, s, pte, want)) {
                            long pfn = Pte.pfn(pte);
                            if (slot != null) {
                                copy(pfn, off, n, write, buf, bufOff);
                                slot.exit();
                            }
                            LruSurrogate lru = engine.node(Pfn.node(pfn)).lru;
                            if (lru != null) {
                                lru.recordAccess(Pfn.index(pfn)); // the CPU touching coherent device memory
                            }
                            break;
                        }
                        if (slot != null) {
                            slot.exit();
                        }
                        continue;
                    }
                    if (slot != null) {
                        slot.exit();
                    }
                }
                engine.cpuFaults.handle(this, va, vpn, pte, type);
                if (leaf == null) {
                    leaf = pageTable.leaf(vpn);
                }
            }
            va += n;
            bufOff += n;
        }
    }

    static boolean cpuUsable(long pte, boolean write) {
        return Pte.kind(pte) == Pte.KIND_PRESENT && (pte & Pte.PROTNONE) == 0 && (!write || (pte & Pte.WRITE) != 0);
    }

    private void copy(long pfn, int off, long n, boolean write, MemorySegment buf, long bufOff) {
        MemoryNode node = engine.node(Pfn.node(pfn));
        long at = node.offset(Pfn.index(pfn)) + off;
        if (write) {
            MemorySegment.copy(buf, bufOff, node.memory, at, n);
        } else {
            MemorySegment.copy(node.memory, at, buf, bufOff, n);
        }
    }

    // ------------------------------------------------------------------ pins

    /**
     * Pins {@code [va, va+length)} for long-term use ({@code pin_user_pages(FOLL_LONGTERM)}): each page is faulted into
     * RAM first (device-private pages come back; device-coherent pages are migrated out, as Linux refuses long-term
     * pins on coherent memory), then its frame's pin count is raised. A pinned page is never migrated or evicted
     * ({@link MigrateResult#PINNED}).
     */
    public PinnedRange pin(long va, long length) {
        checkOpen();
        checkRange(va, length, "pin");
        long end = va + alignUp(length);
        long[] pinned = new long[(int) ((end - va) >>> pageShift)];
        int n = 0;
        mmapLock.readLock().lock();
        try {
            for (long a = va; a < end; a += pageSize) {
                pinned[n++] = pinOne(a);
            }
        } catch (RuntimeException e) {
            for (int k = 0; k < n; k++) {
                unpinFrame(pinned[k]);
            }
            throw e;
        } finally {
            mmapLock.readLock().unlock();
        }
        return new PinnedRange(this, va, end, pinned);
    }

    private long pinOne(long va) {
        long vpn = va >>> pageShift;
        for (;;) {
            long[] leaf = pageTable.leaf(vpn);
            long pte = leaf == null ? Pte.NONE : PageTable.laPte(leaf, PageTable.slot(vpn));
            if (Pte.isPresent(pte) && !Pte.isProtNone(pte)) {
                long pfn = Pte.pfn(pte);
                MemoryNode node = engine.node(Pfn.node(pfn));
                if (node.type() == MemoryType.DEVICE_COHERENT) {
                    engine.migrateToRam(this, va, pageSize);
                    continue;
                }
                if (node.table.tryPin(Pfn.index(pfn))) {
                    long now = PageTable.laPte(leaf, PageTable.slot(vpn));
                    if (Pte.isPresent(now) && Pte.pfn(now) == pfn) {
                        return pfn;
                    }
                    node.table.unpin(Pfn.index(pfn)); // the page moved between the read and the pin: retry
                }
                continue;
            }
            // fault it in (GUP does handle_mm_fault): first touch, device-private migrate back, migration wait
            engine.cpuFaults.handle(this, va, vpn, pte, AccessType.READ);
        }
    }

    void unpinFrame(long pfn) {
        engine.node(Pfn.node(pfn)).table.unpin(Pfn.index(pfn));
    }

    // ------------------------------------------------------------------ inspection

    /** A snapshot of the entry of the page holding {@code va}. */
    public PageInfo page(long va) {
        return PageInfo.of(engine, va & ~pageMask, pageTable.laPte(va >>> pageShift));
    }

    /** The raw entry of the page holding {@code va} (see {@link Pte}). */
    public long pte(long va) {
        return pageTable.laPte(va >>> pageShift);
    }

    /**
     * Reads bytes straight from the frames (or, for file pages not mapped here, the page cache or the file), with no
     * fault and no migration; for checks in tests and tools.
     */
    public void peek(long va, byte[] dst) {
        for (int i = 0; i < dst.length; ) {
            long a = va + i;
            long pte = pageTable.laPte(a >>> pageShift);
            int n = (int) Math.min(pageSize - (a & pageMask), dst.length - i);
            int k = Pte.kind(pte);
            Vma vma = k == Pte.KIND_NONE ? findVma(a) : null;
            if (vma != null && vma.isFile()) {
                vma.file().peek(vma.fileIndexAt(a, pageShift), (int) (a & pageMask), dst, i, n);
            } else if (k == Pte.KIND_NONE) {
                Arrays.fill(dst, i, i + n, (byte) 0);
            } else {
                long pfn = Pte.pfn(pte);
                MemoryNode node = engine.node(Pfn.node(pfn));
                node.read(node.offset(Pfn.index(pfn)) + (a & pageMask), MemorySegment.ofArray(dst), i, n);
            }
            i += n;
        }
    }

    // ------------------------------------------------------------------ teardown

    /** Tears the address space down ({@code exit_mmap}): unmaps every VMA and frees every frame. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        mmapLock.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            for (Vma v : vmas) {
                refuseIfPinned(v.start(), v.end());
            }
            Vma[] all = vmas;
            publishVmas(all, new Vma[0]);
            for (Vma v : all) {
                try (MmuNotifierRange r = invalidateRangeStart(v.start(), v.end(), MmuNotifierEvent.RELEASE, null)) {
                    zap(v.start() >>> pageShift, v.end() >>> pageShift, r.cleared());
                }
            }
            for (Vma v : all) {
                unclaimDax(all, v.start(), v.end());
            }
            RuntimeException writeback = null;
            for (Vma v : all) {
                try {
                    writebackUnmapped(all, v.start(), v.end());
                } catch (java.io.UncheckedIOException e) {
                    writeback = writeback == null ? e : writeback;
                }
            }
            closed = true;
            engine.unregister(this);
            if (writeback != null) {
                throw writeback;
            }
        } finally {
            mmapLock.writeLock().unlock();
        }
    }

    public boolean isClosed() {
        return closed;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("address space " + id + " is closed");
        }
    }

    private void checkRange(long va, long length, String op) {
        if ((va & pageMask) != 0 || length <= 0) {
            throw new IllegalArgumentException(String.format("%s needs a page-aligned start and a positive length: "
                    + "va=0x%x length=%d", op, va, length));
        }
    }

    long alignUp(long length) {
        return (length + pageMask) & ~pageMask;
    }

    @Override
    public String toString() {
        return "mm" + id;
    }
}
