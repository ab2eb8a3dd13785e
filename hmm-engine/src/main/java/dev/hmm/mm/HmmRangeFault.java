package dev.hmm.mm;

/**
 * The walk of {@code hmm_range_fault} ({@code mm/hmm.c}): reads the CPU entries of a range and reports each page's
 * pfn and permission, faulting pages in where asked (the way {@code handle_mm_fault} would), without taking page
 * references. A device-private page of the caller's owner is reported, never faulted; another owner's is faulted back
 * to RAM ({@code migrate_to_ram}); a device-exclusive page of another owner is revoked; a migration entry is waited
 * for and the call reports {@link HmmRange.Status#BUSY}, as Linux returns {@code -EBUSY}.
 *
 * <p>Only meaningful inside the interval-notifier protocol: the caller read a sequence before and checks it again
 * under its lock before using the result.
 */
final class HmmRangeFault {
    private final HmmEngine engine;

    HmmRangeFault(HmmEngine engine) {
        this.engine = engine;
    }

    HmmRange.Status walk(AddressSpace mm, HmmRange range) {
        long[] pfns = range.pfns();
        HmmRange.Status status = HmmRange.Status.OK;
        for (int i = 0; i < pfns.length; i++) {
            long va = range.start() + ((long) i << mm.pageShift);
            long req = (pfns[i] & range.pfnFlagsMask()) | range.defaultFlags();
            HmmRange.Status s = page(mm, va, req, range.devicePrivateOwner(), pfns, i);
            if (s == HmmRange.Status.BUSY) {
                return s;
            }
            if (s == HmmRange.Status.FAULT) {
                status = s;
            }
        }
        return status;
    }

    private HmmRange.Status page(AddressSpace mm, long va, long req, Object owner, long[] out, int i) {
        boolean fault = (req & HmmRange.REQ_FAULT) != 0;
        boolean write = fault && (req & HmmRange.REQ_WRITE) != 0;
        long vpn = va >>> mm.pageShift;
        for (;;) {
            Vma vma = mm.findVma(va);
            long[] leaf = mm.pageTable.leaf(vpn);
            int s = PageTable.slot(vpn);
            long pte = leaf == null ? Pte.NONE : PageTable.laPte(leaf, s);
            if (vma == null || !vma.prot().canRead() || (write && !vma.prot().canWrite())) {
                out[i] = HmmRange.PFN_ERROR;
                return fault ? HmmRange.Status.FAULT : HmmRange.Status.OK;
            }
            int kind = Pte.kind(pte);
            if (kind == Pte.KIND_MIGRATION) {
                engine.cpuFaults.migrationEntryWait(leaf, s, pte);
                out[i] = 0;
                return HmmRange.Status.BUSY;
            }
            if (kind == Pte.KIND_NONE) {
                if (!fault) {
                    out[i] = 0;
                    return HmmRange.Status.OK;
                }
                engine.cpuFaults.handle(mm, va, vpn, pte, write ? AccessType.WRITE : AccessType.READ);
                continue;
            }
            long pfn = Pte.pfn(pte);
            MemoryNode node = engine.node(Pfn.node(pfn));
            if (kind == Pte.KIND_DEVICE_PRIVATE) {
                if (node.pagemap().owner() == owner) {
                    if (write && !Pte.isWrite(pte)) {
                        // write-protected by mprotect and allowed again: upgrade in place (no need to move it)
                        engine.cpuFaults.fixProtection(mm, va, vpn, pte, AccessType.WRITE);
                        continue;
                    }
                    if (write && !markWritten(leaf, s, pte)) {
                        continue;
                    }
                    out[i] = pfn | HmmRange.PFN_VALID | HmmRange.PFN_DEVICE_PRIVATE
                            | (Pte.isWrite(pte) ? HmmRange.PFN_WRITE : 0);
                    return HmmRange.Status.OK;
                }
                if (!fault) {
                    out[i] = 0;
                    return HmmRange.Status.OK;
                }
                engine.cpuFaults.handle(mm, va, vpn, pte, write ? AccessType.WRITE : AccessType.READ);
                continue;
            }
            if (kind == Pte.KIND_EXCLUSIVE) {
                if (engine.node(Pte.exclusiveOwner(pte)).pagemap().owner() == owner) {
                    if (write && !Pte.isWrite(pte)) {
                        engine.cpuFaults.fixProtection(mm, va, vpn, pte, AccessType.WRITE);
                        continue;
                    }
                    if (write && !markWritten(leaf, s, pte)) {
                        continue;
                    }
                    out[i] = pfn | HmmRange.PFN_VALID | HmmRange.PFN_EXCLUSIVE
                            | (Pte.isWrite(pte) ? HmmRange.PFN_WRITE : 0);
                    return HmmRange.Status.OK;
                }
                if (!fault) {
                    out[i] = 0;
                    return HmmRange.Status.OK;
                }
                engine.revokeExclusive(mm, va, leaf, s, pte);
                continue;
            }
            // present
            if (Pte.isProtNone(pte) || (write && !Pte.isWrite(pte))) {
                if (!fault) {
                    out[i] = Pte.isProtNone(pte) ? HmmRange.PFN_ERROR : pfn | HmmRange.PFN_VALID;
                    return HmmRange.Status.OK;
                }
                engine.cpuFaults.fixProtection(mm, va, vpn, pte, write ? AccessType.WRITE : AccessType.READ);
                continue;
            }
            if (write && !markWritten(leaf, s, pte)) {
                continue;
            }
            out[i] = pfn | HmmRange.PFN_VALID | (Pte.isWrite(pte) ? HmmRange.PFN_WRITE : 0);
            return HmmRange.Status.OK;
        }
    }

    /**
     * A write fault marks the CPU entry accessed and dirty (as {@code handle_mm_fault} with {@code FAULT_FLAG_WRITE}
     * would), so that the device's writes through its mirror are accounted to the page. False if the entry changed.
     */
    private boolean markWritten(long[] leaf, int s, long pte) {
        long want = pte | Pte.ACCESSED | Pte.DIRTY;
        if (want == pte) {
            return true;
        }
        long pfn = Pte.pfn(pte);
        MemoryNode node = engine.node(Pfn.node(pfn));
        if (Rmap.isFile(node.table.laRmap(Pfn.index(pfn)))) {
            node.table.updateFlag(Pfn.index(pfn), FrameTable.FLAG_DIRTY, true); // the page first, as page_mkwrite
        }
        return PageTable.casPte(leaf, s, pte, want);
    }
}
