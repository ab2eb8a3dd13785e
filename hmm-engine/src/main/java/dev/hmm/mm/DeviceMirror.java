package dev.hmm.mm;

import java.util.concurrent.locks.ReentrantLock;

/**
 * A device's page table for one address space, mirroring the CPU one ({@code dmirror->pt} of {@code lib/test_hmm.c},
 * a GPU's page table under UVM/SVM). Entries use the {@link Pte} encoding:
 * <pre>
 *  PRESENT          a frame of this device (local), or, with R (remote), a frame reached over the link
 *  EXCLUSIVE        a RAM frame this device holds device-exclusive (atomics allowed)
 *  W                writes allowed (granted only by a write fault, which also dirtied the CPU entry)
 * </pre>
 * Written only under {@link #lock} (by the fault service programming it, and by invalidations clearing it); read
 * without locks by the device's accessors (inside their {@link Tlb} critical section when they move bytes). Kept coherent by its
 * {@link MmuIntervalNotifier} over the whole address space: every CPU-side change clears the overlapping entries
 * first, and the TLB flush that follows every such change waits for accessors still using them.
 */
final class DeviceMirror implements MmuIntervalNotifier.Ops {
    final Device device;
    final AddressSpace mm;
    final PageTable table;
    final ReentrantLock lock = new ReentrantLock();
    final MmuIntervalNotifier notifier;

    DeviceMirror(Device device, AddressSpace mm) {
        this.device = device;
        this.mm = mm;
        this.table = new PageTable(mm.pageShift);
        this.notifier = mm.registerNotifier(0, 1L << PageTable.VA_BITS, this);
    }

    /**
     * Clears every entry of {@code [start, end)}; counts invalidations and revoked exclusivity. Read-duplicate frames
     * whose entry is cleared are freed, after a TLB flush so that no device accessor still reads them.
     */
    @Override
    public boolean invalidate(MmuIntervalNotifier n, long start, long end, MmuNotifierEvent event, Object owner) {
        long cleared = 0;
        long revoked = 0;
        MemoryNode node = device.node();
        int[] dups = null;
        int ndups = 0;
        lock.lock();
        try {
            long endVpn = end >>> mm.pageShift;
            for (long vpn = start >>> mm.pageShift; vpn < endVpn; ) {
                long[] leaf = table.leaf(vpn);
                long leafEnd = (vpn | PageTable.SLOT_MASK) + 1;
                if (leaf != null) {
                    long clearedBefore = cleared;
                    long lastCleared = vpn;
                    for (long v = vpn; v < Math.min(leafEnd, endVpn); v++) {
                        int s = PageTable.slot(v);
                        long e = PageTable.laPte(leaf, s);
                        if (e != Pte.NONE) {
                            if (Pte.isExclusive(e)) {
                                revoked++;
                            } else if (isDuplicate(e)) {
                                if (dups == null) {
                                    dups = new int[16];
                                } else if (ndups == dups.length) {
                                    dups = java.util.Arrays.copyOf(dups, ndups * 2);
                                }
                                dups[ndups++] = Pfn.index(Pte.pfn(e));
                            }
                            PageTable.clearPteBeforeFence(leaf, s);
                            cleared++;
                            lastCleared = v;
                        }
                    }
                    if (cleared != clearedBefore) {
                        // eviction streams would otherwise keep a leaf for every page ever seen
                        table.dropLeafIfEmpty(lastCleared);
                    }
                }
                vpn = leafEnd;
            }
            if (cleared > 0) {
                // one fence for the whole range: every clear above is ordered before the TLB flush that follows
                // (its reads of the accessors' slots), as a volatile store per entry would order it
                java.lang.invoke.VarHandle.fullFence();
            }
        } finally {
            lock.unlock();
        }
        if (ndups > 0) {
            device.engine().tlb.flush();
            node.release(dups, 0, ndups, PageState.MAPPED);
            device.engine().stats.droppedDuplicates.add(ndups);
        }
        if (cleared > 0) {
            device.engine().stats.mirrorInvalidations.add(cleared);
        }
        if (revoked > 0 && event == MmuNotifierEvent.EXCLUSIVE_REVOKE) {
            device.exclusiveRevocationsSeen.add(revoked);
        }
        return cleared > 0;
    }

    /**
     * Whether a mirror entry maps a read-duplicate: a local frame whose entry carries {@link Pte#DUPLICATED} (set only
     * where the copy is made, next to the frame's duplicate reverse map; {@link InvariantCheck} checks that they agree).
     */
    boolean isDuplicate(long e) {
        return Pte.kind(e) == Pte.KIND_PRESENT && (e & (Pte.REMOTE | Pte.DUPLICATED)) == Pte.DUPLICATED
                && Pfn.node(Pte.pfn(e)) == device.node().id();
    }

    /**
     * Drops this mirror's read-duplicate of {@code va} if it is frame {@code frame} (eviction of a clean copy: no data
     * to save, the RAM original is valid). Returns whether it did; the caller flushes the TLB and frees the frame.
     */
    boolean dropDuplicate(long va, int frame) {
        lock.lock();
        try {
            long e = entry(va);
            if (!isDuplicate(e) || Pfn.index(Pte.pfn(e)) != frame) {
                return false;
            }
            program(va, Pte.NONE);
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** The mirror entry of {@code va} (volatile load; for accessors, inside their TLB critical section). */
    long entry(long va) {
        long vpn = va >>> mm.pageShift;
        long[] leaf = table.leaf(vpn);
        return leaf == null ? Pte.NONE : PageTable.lvPte(leaf, PageTable.slot(vpn));
    }

    /** Programs one entry; caller holds {@link #lock} and has passed {@code readRetry}. */
    void program(long va, long entry) {
        long vpn = va >>> mm.pageShift;
        program(table.leafOrCreate(vpn), vpn, entry);
    }

    // ------------------------------------------------------------------ walkers of one 2 MiB block
    //
    // A walker that reads or programs several entries of one block (a fault batch, a multi-page access) walks the
    // radix tree once per block instead of once per page. A leaf is unlinked only when empty, under the lock
    // (dropLeafIfEmpty), and never written again: so a stale leaf read without the lock reads NONE, which can make a
    // mapped page look missing (a spurious fault, which the service resolves) but never the reverse; and a leaf taken
    // under the lock stays linked while the lock is held.

    /** The leaf holding {@code vpn}'s entry, or null (see above). */
    long[] leaf(long vpn) {
        return table.leaf(vpn);
    }

    /** The entry of {@code vpn} in {@code leaf} (from {@link #leaf}); NONE when the leaf is null. Volatile load. */
    static long entry(long[] leaf, long vpn) {
        return leaf == null ? Pte.NONE : PageTable.lvPte(leaf, PageTable.slot(vpn));
    }

    /** The leaf holding {@code vpn}'s entry, created if missing; caller holds {@link #lock}. */
    long[] leafOrCreate(long vpn) {
        return table.leafOrCreate(vpn);
    }

    /**
     * Programs {@code vpn}'s entry in {@code leaf} (from {@link #leafOrCreate} under this hold of the lock). A new
     * mapping is published with a release store (no fence): the entry it replaces was NONE or named the same frame,
     * since every change of frame clears the entry first (an invalidation, under this lock) and flushes the TLB before
     * the old frame is reused. Clearing an entry keeps the volatile store the flush pairs with.
     */
    static void program(long[] leaf, long vpn, long entry) {
        if (entry == Pte.NONE) {
            PageTable.storePte(leaf, PageTable.slot(vpn), entry);
        } else {
            PageTable.storePteRelease(leaf, PageTable.slot(vpn), entry);
        }
    }
}
