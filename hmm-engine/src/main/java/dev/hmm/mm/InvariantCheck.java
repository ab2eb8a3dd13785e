package dev.hmm.mm;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.function.Supplier;
import java.util.List;

/**
 * A consistency check of the whole engine at a quiescent point (no access, fault or migration in flight): the
 * equivalent of walking every page table and every {@code struct page} and cross-checking them. Used after stress
 * runs and by {@code ./hmm simulate}; cost is linear in mapped pages plus frames.
 *
 * <p>Checks: every entry names a frame that is MAPPED, whose reverse map leads back to that entry, and no frame is
 * named twice (every page is in exactly one place); entry kind matches the memory type (device-private entries only
 * on device-private memory, never a present entry there); no migration entry and no ISOLATED frame is left; per node,
 * MAPPED frames = entries naming it, FREE frames = free-list length = the free count (free counts balance), no frame
 * ALLOCATED outside DAX claims; every entry lies inside a VMA. Device mirrors: every mirror entry names the frame
 * the CPU entry names now (a local one for this device's own pages, a remote one for RAM and other memory, an exclusive
 * one only where the CPU entry is exclusive to this device), and is writable only where the CPU entry is.
 */
public final class InvariantCheck {
    private static final int MAX_REPORTED = 50;

    private final HmmEngine engine;
    private final List<String> violations = new ArrayList<>();
    private long mappedPages;
    private int suppressed;

    private InvariantCheck(HmmEngine engine) {
        this.engine = engine;
    }

    /** Runs the check; the engine must be quiescent. Returns the violations found (empty when consistent). */
    public static List<String> run(HmmEngine engine, List<AddressSpace> spaces) {
        InvariantCheck c = new InvariantCheck(engine);
        c.check(spaces);
        return c.violations;
    }

    private void violation(String s) {
        if (violations.size() < MAX_REPORTED) {
            violations.add(s);
        } else if (suppressed++ == 0) {
            violations.add("... further violations suppressed");
        }
    }

    private void check(List<AddressSpace> spaces) {
        List<MemoryNode> nodes = new ArrayList<>();
        nodes.add(engine.ram());
        for (Device d : engine.devices()) {
            nodes.add(d.node());
        }
        BitSet[] seen = new BitSet[Pfn.MAX_NODES];
        for (MemoryNode n : nodes) {
            seen[n.id()] = new BitSet(n.frames());
        }
        for (MappedFile f : engine.openFiles()) {
            checkPageCache(f, seen);
        }
        for (AddressSpace mm : spaces) {
            if (!mm.isClosed()) {
                checkSpace(mm, seen);
                for (DeviceMirror m : mm.mirrors) {
                    if (m != null) {
                        checkMirror(mm, m, seen);
                    }
                }
            }
        }
        for (MemoryNode n : nodes) {
            checkNode(n, seen[n.id()]);
        }
    }

    private void checkSpace(AddressSpace mm, BitSet[] seen) {
        mm.pageTable.forEachLeaf((base, leaf) -> {
            for (int s = 0; s < leaf.length; s++) {
                long pte = PageTable.laPte(leaf, s);
                if (pte == Pte.NONE) {
                    continue;
                }
                long vpn = base + s;
                long va = vpn << mm.pageShift;
                // formatted only for a violation: the check walks every entry (268M at 1 TiB of 4 KiB pages)
                Supplier<String> where = () -> String.format("%s page 0x%x %s", mm, va, Pte.toString(pte));
                if (mm.findVma(va) == null) {
                    violation(where.get() + ": entry outside any VMA");
                }
                int kind = Pte.kind(pte);
                if (kind == Pte.KIND_MIGRATION) {
                    violation(where.get() + ": migration entry left at quiescence");
                    continue;
                }
                long pfn = Pte.pfn(pte);
                int nodeId = Pfn.node(pfn);
                MemoryNode node = nodeId < Pfn.MAX_NODES ? engine.node(nodeId) : null;
                if (node == null || Pfn.index(pfn) >= node.frames()) {
                    violation(where.get() + ": names a frame that does not exist");
                    continue;
                }
                int idx = Pfn.index(pfn);
                mappedPages++;
                if (kind == Pte.KIND_DEVICE_PRIVATE && node.type() != MemoryType.DEVICE_PRIVATE) {
                    violation(where.get() + ": device-private entry on " + node.type() + " memory");
                }
                if (kind == Pte.KIND_PRESENT && !node.type().cpuAddressable()) {
                    violation(where.get() + ": present entry on CPU-inaccessible " + node.type() + " memory");
                }
                if (kind == Pte.KIND_EXCLUSIVE && node.type() != MemoryType.SYSTEM_RAM) {
                    violation(where.get() + ": device-exclusive entry on " + node.type() + " memory");
                }
                PageState st = node.table.state(idx);
                if (st != PageState.MAPPED) {
                    violation(where.get() + ": frame " + Pfn.toString(pfn) + " is " + st + ", expected MAPPED");
                }
                long rmap = node.table.laRmap(idx);
                if (Rmap.isFile(rmap)) {
                    Vma vma = mm.findVma(va);
                    long index = vma == null || !vma.isFile() ? -1 : vma.fileIndexAt(va, mm.pageShift);
                    if (index < 0 || rmap != Rmap.file(vma.file().id(), index)
                            || Pte.pfn(vma.file().entry(index)) != pfn) {
                        violation(where.get() + ": maps page-cache frame " + Pfn.toString(pfn)
                                + " that is not this file page's cache entry");
                    }
                    continue; // several mappings may share it; the page cache walk counted it once
                }
                if (!Rmap.isFile(rmap) && rmap != Rmap.anon(mm.id(), vpn)) {
                    violation(where.get() + ": reverse map of " + Pfn.toString(pfn) + " is " + Long.toHexString(rmap)
                            + ", expected this page");
                }
                if (!Rmap.isFile(rmap)) {
                    if (seen[nodeId].get(idx)) {
                        violation(where.get() + ": frame " + Pfn.toString(pfn) + " is mapped twice");
                    }
                    seen[nodeId].set(idx);
                }
            }
        });
    }

    private void checkPageCache(MappedFile f, BitSet[] seen) {
        f.cache.forEachLeaf((base, leaf) -> {
            for (int s = 0; s < leaf.length; s++) {
                long e = PageTable.laPte(leaf, s);
                if (e == Pte.NONE) {
                    continue;
                }
                long index = base + s;
                Supplier<String> where = () -> f.path().getFileName() + " page " + index + " " + Pte.toString(e);
                if (Pte.isMigration(e)) {
                    violation(where.get() + ": page cache entry locked at quiescence");
                    continue;
                }
                long pfn = Pte.pfn(e);
                MemoryNode node = engine.node(Pfn.node(pfn));
                int idx = Pfn.index(pfn);
                if (node.table.state(idx) != PageState.MAPPED) {
                    violation(where.get() + ": cached frame is " + node.table.state(idx));
                }
                if (node.table.laRmap(idx) != Rmap.file(f.id(), index)) {
                    violation(where.get() + ": cached frame's reverse map is not this page");
                }
                if (Pte.isDevicePrivate(e) != (node.type() == MemoryType.DEVICE_PRIVATE)) {
                    violation(where.get() + ": cache entry kind does not match " + node.type());
                }
                if (seen[node.id()].get(idx)) {
                    violation(where.get() + ": frame cached twice");
                }
                seen[node.id()].set(idx);
            }
        });
    }

    private void checkMirror(AddressSpace mm, DeviceMirror m, BitSet[] seen) {
        int dev = m.device.node().id();
        m.table.forEachLeaf((base, leaf) -> {
            for (int s = 0; s < leaf.length; s++) {
                long e = PageTable.laPte(leaf, s);
                if (e == Pte.NONE) {
                    continue;
                }
                long va = (base + s) << mm.pageShift;
                long cpu = mm.pte(va);
                Supplier<String> where = () -> String.format("%s mirror of %s page 0x%x %s (CPU %s)",
                        m.device.name(), mm, va, Pte.toString(e), Pte.toString(cpu));
                int k = Pte.kind(cpu);
                if (m.isDuplicate(e)) {
                    int idx = Pfn.index(Pte.pfn(e));
                    MemoryNode node = m.device.node();
                    if (!Pte.isPresent(cpu) || !Pte.isDuplicated(cpu) || Pte.isWrite(cpu)
                            || Pfn.node(Pte.pfn(cpu)) != 0) {
                        violation(where.get() + ": read-duplicate while the CPU entry is not a write-protected RAM original");
                    }
                    if (Pte.isWrite(e)) {
                        violation(where.get() + ": writable read-duplicate");
                    }
                    if (node.table.laRmap(idx) != Rmap.duplicate(Rmap.anon(mm.id(), base + s))) {
                        violation(where.get() + ": read-duplicate frame with a wrong reverse map");
                    }
                    if (seen[node.id()].get(idx)) {
                        violation(where.get() + ": read-duplicate frame also mapped elsewhere");
                    }
                    seen[node.id()].set(idx);
                    continue;
                }
                if ((e & Pte.DUPLICATED) != 0) {
                    violation(where.get() + ": duplicate flag on an entry that is not a local read-duplicate");
                }
                if (Pte.isPresent(e) && !Pte.isRemote(e) && Pfn.node(Pte.pfn(e)) == dev
                        && Rmap.isDuplicate(m.device.node().table.laRmap(Pfn.index(Pte.pfn(e))))) {
                    violation(where.get() + ": read-duplicate frame mapped without the duplicate flag");
                }
                boolean sameFrame = k != Pte.KIND_NONE && k != Pte.KIND_MIGRATION && Pte.pfn(cpu) == Pte.pfn(e);
                if (k == Pte.KIND_NONE) {
                    // a file page the device mapped while this mapping's entry was zapped: the cache must agree
                    Vma vma = mm.findVma(va);
                    sameFrame = vma != null && vma.isFile()
                            && Pte.pfn(vma.file().entry(vma.fileIndexAt(va, mm.pageShift))) == Pte.pfn(e)
                            && !Pte.isWrite(e);
                    if (sameFrame) {
                        continue;
                    }
                }
                if (!sameFrame) {
                    violation(where.get() + ": stale mirror entry");
                    continue;
                }
                boolean local = Pfn.node(Pte.pfn(e)) == dev;
                if (Pte.isExclusive(e) != (k == Pte.KIND_EXCLUSIVE && Pte.exclusiveOwner(cpu) == dev)) {
                    violation(where.get() + ": exclusive mirror entry without the CPU entry's exclusivity, or the reverse");
                }
                if (local == Pte.isRemote(e) && !Pte.isExclusive(e)) {
                    violation(where.get() + ": remote flag wrong for node " + Pfn.node(Pte.pfn(e)));
                }
                if (Pte.isWrite(e) && !Pte.isWrite(cpu)) {
                    violation(where.get() + ": writable in the mirror, not in the CPU entry");
                }
            }
        });
    }

    private void checkNode(MemoryNode n, BitSet referenced) {
        long free = 0;
        long mapped = 0;
        for (int i = 0; i < n.frames(); i++) {
            int w = n.table.laState(i);
            PageState st = FrameTable.stateOf(w);
            switch (st) {
                case FREE -> {
                    free++;
                    if (FrameTable.pinsOf(w) != 0 || FrameTable.refsOf(w) != 0) {
                        violation(n.name() + " frame " + i + ": FREE with pins or references");
                    }
                }
                case MAPPED -> {
                    mapped++;
                    if (!referenced.get(i)) {
                        violation(n.name() + " frame " + i + ": MAPPED but no entry names it (leaked)");
                    }
                }
                case ALLOCATED -> {
                    if (!n.isLinear()) {
                        violation(n.name() + " frame " + i + ": ALLOCATED at quiescence (leaked)");
                    }
                }
                case ISOLATED -> violation(n.name() + " frame " + i + ": ISOLATED at quiescence");
            }
        }
        if (n.isLinear()) {
            return;
        }
        long listed = n.free.walk(n.frames() + 1L);
        if (listed != free || n.free.count() != free) {
            violation(String.format("%s: %d FREE frames, free list holds %d, free count says %d", n.name(), free,
                    listed, n.free.count()));
        }
    }
}
