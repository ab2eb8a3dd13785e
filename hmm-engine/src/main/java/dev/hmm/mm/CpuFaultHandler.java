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
            MemoryNode ram = engine.ram();
            int idx = ram.allocateOne();
            if (idx < 0) {
                throw new OutOfFramesException(ram.name(), va);
            }
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
