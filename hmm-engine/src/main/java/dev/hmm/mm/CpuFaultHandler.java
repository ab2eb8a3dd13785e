package dev.hmm.mm;

/**
 * The CPU fault path ({@code handle_mm_fault} in {@code mm/memory.c}): what happens when an access finds an entry it
 * cannot use. Each case resolves the entry (or sleeps until someone else does) and returns; the caller retries its
 * access, so a fault never hands a frame to its caller.
 *
 * <pre>
 *  entry            case                              Linux
 *  none             first touch: map a zeroed RAM frame  do_anonymous_page
 *  present, !W      write to a write-protected page      do_wp_page
 *  device-private   owner's migrateToRam                  do_swap_page -&gt; pgmap-&gt;ops-&gt;migrate_to_ram
 *  migration        sleep until finalize replaces it      migration_entry_wait
 *  exclusive        revoke the device's exclusivity        remove_device_exclusive_entry
 * </pre>
 * Each case checks the VMA first: no VMA, or a protection that forbids the access, is a
 * {@link SegmentationFaultException}.
 */
final class CpuFaultHandler {
    private final HmmEngine engine;
    private final HmmStats stats;

    CpuFaultHandler(HmmEngine engine, HmmStats stats) {
        this.engine = engine;
        this.stats = stats;
    }

    void handle(AddressSpace mm, long va, long vpn, long pte, AccessType type) {
        int kind = Pte.kind(pte);
        if (kind == Pte.KIND_MIGRATION) {
            long[] leaf = mm.pageTable.leaf(vpn);
            migrationEntryWait(leaf, PageTable.slot(vpn), pte);
            return;
        }
        Vma vma = mm.findVma(va);
        if (vma == null) {
            throw new SegmentationFaultException(va, "no mapping");
        }
        if (!vma.prot().allows(type.isWrite())) {
            throw new SegmentationFaultException(va, (type.isWrite() ? "write to " : "read of ") + vma.prot()
                    + " mapping " + vma);
        }
        switch (kind) {
            case Pte.KIND_NONE -> doAnonymousPage(mm, va, vpn, type);
            case Pte.KIND_PRESENT -> {
                if (fixProtection(mm, va, vpn, pte, type) && type.isWrite()) {
                    stats.cpuWriteProtect.increment();
                }
            }
            case Pte.KIND_DEVICE_PRIVATE -> doDevicePrivate(mm, va, pte, type);
            case Pte.KIND_EXCLUSIVE -> engine.revokeExclusive(mm, va, mm.pageTable.leaf(vpn), PageTable.slot(vpn), pte);
            default -> throw new IllegalStateException("unknown entry " + Pte.toString(pte) + " at " + Long.toHexString(va));
        }
    }

    /** First touch of anonymous memory: a zeroed RAM frame, installed by CAS (a racing fault's frame is freed). */
    private void doAnonymousPage(AddressSpace mm, long va, long vpn, AccessType type) {
        mm.mmapLock.readLock().lock();
        try {
            Vma vma = mm.findVma(va); // again, under the lock: munmap cannot race the install
            if (vma == null) {
                throw new SegmentationFaultException(va, "no mapping");
            }
            long[] leaf = mm.pageTable.leafOrCreate(vpn);
            int s = PageTable.slot(vpn);
            if (PageTable.laPte(leaf, s) != Pte.NONE) {
                return; // someone else faulted it in
            }
            if (vma.isDax()) {
                doDaxPage(mm, vma, va, vpn, leaf, s, type);
                return;
            }
            if (vma.isFile()) {
                doFilePage(mm, vma, va);
                return;
            }
            MemoryNode ram = engine.ram();
            int idx = engine.allocateRam(va);
            if (ram.store.hasData()) {
                ram.memory.asSlice(ram.offset(idx), mm.pageSize).fill((byte) 0);
            }
            ram.table.soRmap(idx, Rmap.anon(mm.id(), vpn));
            ram.table.transition(idx, PageState.ALLOCATED, PageState.MAPPED);
            long flags = Pte.ACCESSED | (vma.prot().canWrite() ? Pte.WRITE : 0) | (type.isWrite() ? Pte.DIRTY : 0)
                    | (vma.prot().canRead() ? 0 : Pte.PROTNONE);
            if (!PageTable.casPte(leaf, s, Pte.NONE, Pte.present(Pfn.of(ram.id(), idx), flags))) {
                ram.releaseOne(idx, PageState.MAPPED);
                return;
            }
            stats.cpuFirstTouch.increment();
        } finally {
            mm.mmapLock.readLock().unlock();
        }
    }

    /**
     * A file page not mapped here yet ({@code filemap_fault}): find it in the page cache (reading it from the file if
     * needed) and map it by the page cache's pin protocol; a shared page is writable only once dirty, a private one
     * stays read-only until copied on write. Beyond the end of the file: {@link BusErrorException}.
     */
    private void doFilePage(AddressSpace mm, Vma vma, long va) {
        MappedFile file = vma.file();
        long index = vma.fileIndexAt(va, mm.pageShift);
        for (;;) {
            long e = file.findOrRead(index, va);
            if (file.install(mm, vma, va, index, e)) {
                stats.cpuFileFaults.increment();
                return;
            }
            Thread.onSpinWait(); // the page is being locked or moved: look again (findOrRead waits on a lock)
        }
    }

    /** First touch of a DAX page: map the device frame at the VMA's offset in place (no allocation, no zeroing). */
    private void doDaxPage(AddressSpace mm, Vma vma, long va, long vpn, long[] leaf, int s, AccessType type) {
        MemoryNode node = vma.dax();
        int idx = vma.daxFrameAt(va, mm.pageShift);
        if (!node.table.tryTransition(idx, PageState.ALLOCATED, PageState.MAPPED)) {
            return; // a racing fault mapped it first
        }
        node.table.soRmap(idx, Rmap.anon(mm.id(), vpn));
        long flags = Pte.ACCESSED | (vma.prot().canWrite() ? Pte.WRITE : 0) | (type.isWrite() ? Pte.DIRTY : 0)
                | (vma.prot().canRead() ? 0 : Pte.PROTNONE);
        if (!PageTable.casPte(leaf, s, Pte.NONE, Pte.present(Pfn.of(node.id(), idx), flags))) {
            throw new IllegalStateException("DAX entry at 0x" + Long.toHexString(va) + " installed twice");
        }
        stats.cpuFirstTouch.increment();
    }

    /**
     * An entry the access could not use for lack of permission: write-protected while the VMA allows writing (make it writable:
     * {@code do_wp_page} reusing an exclusive anonymous page), or PROT_NONE while the VMA allows access. Rechecked
     * under the mmap read lock, so a concurrent {@code mprotect} downgrade is never undone.
     *
     * @return whether the entry changed
     */
    boolean fixProtection(AddressSpace mm, long va, long vpn, long pte, AccessType type) {
        mm.mmapLock.readLock().lock();
        try {
            Vma vma = mm.findVma(va);
            if (vma == null || !vma.prot().allows(type.isWrite())) {
                throw new SegmentationFaultException(va, vma == null ? "no mapping" : "protection " + vma.prot());
            }
            long[] leaf = mm.pageTable.leaf(vpn);
            int s = PageTable.slot(vpn);
            if (type.isWrite() && vma.isFile() && (Pte.isPresent(pte) || Pte.isDevicePrivate(pte))) {
                int fileWrite = fileWriteFault(mm, vma, va, vpn, leaf, s, pte);
                if (fileWrite != NOT_A_CACHE_PAGE) {
                    return fileWrite == CHANGED;
                }
            }
            if (type.isWrite() && Pte.isDuplicated(pte)) {
                // break read duplication: every device drops its copy before the CPU entry becomes writable
                long page = va & ~mm.pageMask;
                try (MmuNotifierRange r = mm.invalidateRangeStart(page, page + mm.pageSize, MmuNotifierEvent.CLEAR,
                        null)) {
                    long n = (pte & ~(Pte.PROTNONE | Pte.DUPLICATED)) | Pte.ACCESSED
                            | (vma.prot().canWrite() ? Pte.WRITE : 0);
                    return PageTable.casPte(leaf, s, pte, n);
                }
            }
            long n = (pte & ~Pte.PROTNONE) | Pte.ACCESSED | (vma.prot().canWrite() ? Pte.WRITE : 0);
            return n != pte && PageTable.casPte(leaf, s, pte, n);
        } finally {
            mm.mmapLock.readLock().unlock();
        }
    }

    private static final int UNCHANGED = 0;
    private static final int CHANGED = 1;
    private static final int NOT_A_CACHE_PAGE = 2;

    /**
     * A write to a file mapping's page: dirty a shared page-cache page, copy a private one, or report
     * {@link #NOT_A_CACHE_PAGE} (an anonymous copy-on-write copy, made writable like any anonymous page).
     *
     * <p>Which of these the page is, is read from the frame's reverse map, under a transient reference and with the
     * entry re-read: the free list is LIFO, so a page-cache page dropped and read again often lands in the same frame
     * and is mapped again with the same entry bits (ABA). Without the reference, the reverse map could be read while
     * the frame was free or someone else's, and the CAS that follows would still succeed against the re-installed
     * entry: a shared page made writable without being marked dirty (its writes never written back, lost when the
     * clean page is dropped). With it, the frame can no longer be isolated, so a page-cache page cannot be freed;
     * anonymous frames are freed only by zap (mmap write lock, excluded here) or after isolation.
     */
    private int fileWriteFault(AddressSpace mm, Vma vma, long va, long vpn, long[] leaf, int s, long pte) {
        long pfn = Pte.pfn(pte);
        MemoryNode node = engine.node(Pfn.node(pfn));
        int frame = Pfn.index(pfn);
        boolean devicePrivateCopy = false;
        if (!node.table.tryRef(frame)) {
            return UNCHANGED; // being moved or dropped: the access retries and finds the new entry
        }
        try {
            if (PageTable.laPte(leaf, s) != pte) {
                return UNCHANGED;
            }
            if (!Rmap.isFile(node.table.laRmap(frame))) {
                return NOT_A_CACHE_PAGE;
            }
            if (vma.shared()) {
                return dirtySharedFilePage(leaf, s, pte) ? CHANGED : UNCHANGED;
            }
            if (!Pte.isDevicePrivate(pte)) {
                copyOnWrite(mm, vma, va, vpn, leaf, s, pte);
                return UNCHANGED; // counted as a copy-on-write fault, not a write-protect one
            }
            devicePrivateCopy = true;
        } finally {
            node.table.unref(frame);
        }
        if (devicePrivateCopy) {
            // a private copy is made in RAM: bring the page-cache page back first (our reference would stop it)
            Device owner = engine.deviceOf(node);
            long page = va & ~mm.pageMask;
            engine.migrator.toRam(mm, page, page + mm.pageSize, owner);
        }
        return UNCHANGED;
    }

    /**
     * The first write to a clean shared file page ({@code do_shared_fault} / {@code page_mkwrite}): the page is marked
     * dirty before its entry becomes writable, so writeback, which zaps entries before it cleans, never misses a write.
     * The caller holds a reference on the frame and has re-read the entry.
     */
    private boolean dirtySharedFilePage(long[] leaf, int s, long pte) {
        long pfn = Pte.pfn(pte);
        engine.node(Pfn.node(pfn)).table.updateFlag(Pfn.index(pfn), FrameTable.FLAG_DIRTY, true);
        return PageTable.casPte(leaf, s, pte, (pte & ~Pte.PROTNONE) | Pte.WRITE | Pte.DIRTY | Pte.ACCESSED);
    }

    /**
     * A write to a page-cache page through a private mapping ({@code do_cow_fault} / {@code wp_page_copy}): copy it
     * into an anonymous RAM frame and map the copy writable. The file never sees it. The source holds a transient
     * reference while copied (the caller's, and one of its own). Returns false: it counts itself.
     */
    private boolean copyOnWrite(AddressSpace mm, Vma vma, long va, long vpn, long[] leaf, int s, long pte) {
        long pfn = Pte.pfn(pte);
        MemoryNode src = engine.node(Pfn.node(pfn));
        if (!src.table.tryRef(Pfn.index(pfn))) {
            return false;
        }
        try {
            if (PageTable.laPte(leaf, s) != pte) {
                return false;
            }
            MemoryNode ram = engine.ram();
            int copy = engine.allocateRam(va);
            if (ram.store.hasData()) {
                MemorySegmentCopy.page(src, Pfn.index(pfn), ram, copy, mm.pageSize);
            }
            ram.table.soRmap(copy, Rmap.anon(mm.id(), vpn));
            ram.table.transition(copy, PageState.ALLOCATED, PageState.MAPPED);
            long n = Pte.present(Pfn.of(ram.id(), copy), Pte.WRITE | Pte.DIRTY | Pte.ACCESSED);
            // the entry changes frame: devices mirroring the page-cache page must drop it first, or they would go on
            // reading the file's page after this mapping's copy diverged (wp_page_copy's MMU_NOTIFY_CLEAR range)
            long page = va & ~mm.pageMask;
            boolean installed;
            try (MmuNotifierRange r = mm.invalidateRangeStart(page, page + mm.pageSize, MmuNotifierEvent.CLEAR,
                    null)) {
                installed = PageTable.casPte(leaf, s, pte, n);
            }
            if (!installed) {
                ram.releaseOne(copy, PageState.MAPPED);
                return false;
            }
            stats.cpuCowFaults.increment();
            return false; // counted here, as a copy-on-write fault, not as a write-protect one
        } finally {
            src.table.unref(Pfn.index(pfn));
        }
    }

    private void doDevicePrivate(AddressSpace mm, long va, long pte, AccessType type) {
        long pfn = Pte.pfn(pte);
        DevicePagemap pm = engine.node(Pfn.node(pfn)).pagemap();
        stats.cpuDevicePrivate.increment();
        pm.ops().migrateToRam(new VmFault(mm, va, pfn, type));
    }

    /** Sleeps until the migration entry {@code pte} at {@code leaf[s]} is replaced. */
    void migrationEntryWait(long[] leaf, int s, long pte) {
        engine.waits.await(Pte.pfn(pte), expected -> PageTable.lvPte(leaf, s) == expected, pte);
    }
}
