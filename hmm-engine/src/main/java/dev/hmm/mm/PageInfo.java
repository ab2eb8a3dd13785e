package dev.hmm.mm;

/**
 * A snapshot of one virtual page's entry, for inspection, tests and reports (what {@code hmm_range_fault} in snapshot
 * mode or {@code /proc/pid/pagemap} would tell).
 *
 * @param address the page's first byte
 * @param kind the entry kind
 * @param node the node of the frame named, or -1
 * @param memoryType the memory type of that node, or null
 * @param pfn the frame named, or {@link Pfn#NONE}
 * @param writable the entry allows writes
 * @param accessed the accessed (young) bit
 * @param dirty the dirty bit
 */
public record PageInfo(long address, Kind kind, int node, MemoryType memoryType, long pfn, boolean writable,
        boolean accessed, boolean dirty) {

    /** Entry kinds, after the {@link Pte} kinds. */
    public enum Kind {
        NONE, PRESENT, DEVICE_PRIVATE, MIGRATION, EXCLUSIVE
    }

    static PageInfo of(HmmEngine engine, long address, long pte) {
        int k = Pte.kind(pte);
        if (k == Pte.KIND_NONE) {
            return new PageInfo(address, Kind.NONE, -1, null, Pfn.NONE, false, false, false);
        }
        long pfn = Pte.pfn(pte);
        MemoryNode n = engine.node(Pfn.node(pfn));
        return new PageInfo(address, Kind.values()[k], n.id(), n.type(), pfn, Pte.isWrite(pte), Pte.isAccessed(pte),
                Pte.isDirty(pte));
    }

    /** Whether the page lives on the given node. */
    public boolean isOn(MemoryNode n) {
        return node == n.id();
    }
}
