package dev.hmm.mm;

/**
 * Encoding of a 64-bit page-table entry ({@code pte_t}), shared by CPU page tables and device mirror tables. Entries
 * change only by CAS ({@link PageTable#casPte}); this class only encodes and decodes. Never instantiated.
 *
 * <pre>
 *  63                                               12 11       7 6 5 4 3 2   0
 * +---------------------------------------------------+----------+-+-+-+-+-----+
 * |                 pfn (node:12 | index:40)          |rsv|L|U|N|R|D|A|W|kind |
 * +---------------------------------------------------+---+-+-+-+-+-+-+-+-----+
 *
 *  kind  0 NONE            nothing mapped (pte_none); every other bit is 0
 *        1 PRESENT         CPU-mappable frame (RAM, device-coherent, persistent)
 *        2 DEVICE_PRIVATE  device-private swap entry: names a device frame; not present to the CPU
 *        3 MIGRATION       migration entry: page under migration; pfn names the source frame; accessors wait
 *        4 EXCLUSIVE       device-exclusive entry (make_device_exclusive): a RAM frame the CPU must not touch;
 *                          the RAM node id being 0, the node field holds the exclusive device's node id instead
 *  W  bit 3  writable (for MIGRATION / EXCLUSIVE: the original entry was writable)
 *  A  bit 4  accessed (young)
 *  D  bit 5  dirty
 *  R  bit 6  remote: in a device mirror table, the frame is reached over the link, not in local memory
 *  N  bit 7  PROT_NONE: the VMA forbids every access (the entry keeps its frame, accesses fault; _PAGE_PROTNONE)
 *  U  bit 8  read-duplicated: devices may hold read-only copies; the entry is write-protected, and the write fault
 *            drops the copies before it makes the entry writable (UVM read duplication). In a device mirror table,
 *            on a local entry: this entry is such a copy (its frame's reverse map says so too), so that invalidation
 *            and eviction tell copies apart without loading the frame's reverse map
 *  L  bit 9  link atomics: in a device mirror table, a remote entry on which the device may also perform atomics over
 *            the link (PCIe AtomicOps / NVLink system-scope atomics); used for page-cache pages that stay in RAM,
 *            which make_device_exclusive does not take
 * </pre>
 *
 * Only the meaning of the bits follows the kernel (pte_present, is_device_private_entry, is_migration_entry,
 * pte_write, pte_young, pte_dirty); their positions are our own.
 */
public final class Pte {
    public static final long NONE = 0L;

    static final int KIND_BITS = 3;
    static final long KIND_MASK = (1L << KIND_BITS) - 1;
    public static final int KIND_NONE = 0;
    public static final int KIND_PRESENT = 1;
    public static final int KIND_DEVICE_PRIVATE = 2;
    public static final int KIND_MIGRATION = 3;
    public static final int KIND_EXCLUSIVE = 4;

    public static final long WRITE = 1L << 3;
    public static final long ACCESSED = 1L << 4;
    public static final long DIRTY = 1L << 5;
    public static final long REMOTE = 1L << 6;
    public static final long PROTNONE = 1L << 7;
    public static final long DUPLICATED = 1L << 8;
    public static final long LINK_ATOMIC = 1L << 9;
    /** The flags an entry carries through migration (migration entries keep them, as Linux's do). */
    static final long CARRIED = WRITE | ACCESSED | DIRTY | PROTNONE;

    static final int PFN_SHIFT = 12;

    private Pte() {
    }

    static long make(int kind, long pfn, long flags) {
        return (pfn << PFN_SHIFT) | (flags & ~KIND_MASK & ((1L << PFN_SHIFT) - 1)) | kind;
    }

    public static long present(long pfn, long flags) {
        return make(KIND_PRESENT, pfn, flags);
    }

    public static long devicePrivate(long pfn, long flags) {
        return make(KIND_DEVICE_PRIVATE, pfn, flags);
    }

    public static long migration(long pfn, long flags) {
        return make(KIND_MIGRATION, pfn, flags);
    }

    /** A device-exclusive entry for RAM frame {@code ramPfn}, held by the device of node {@code ownerNode}. */
    public static long exclusive(long ramPfn, int ownerNode, long flags) {
        if (Pfn.node(ramPfn) != 0) {
            throw new IllegalArgumentException("device-exclusive entries name RAM frames, not " + Pfn.toString(ramPfn));
        }
        return make(KIND_EXCLUSIVE, Pfn.of(ownerNode, Pfn.index(ramPfn)), flags);
    }

    /** The node id of the device holding a device-exclusive entry. */
    public static int exclusiveOwner(long pte) {
        return Pfn.node(pte >>> PFN_SHIFT);
    }

    public static int kind(long pte) {
        return (int) (pte & KIND_MASK);
    }

    /** The frame the entry names (for a device-exclusive entry, the RAM frame, not the owner). */
    public static long pfn(long pte) {
        long raw = pte >>> PFN_SHIFT;
        return kind(pte) == KIND_EXCLUSIVE ? raw & Pfn.INDEX_MASK : raw;
    }

    public static boolean isNone(long pte) {
        return pte == NONE;
    }

    public static boolean isPresent(long pte) {
        return kind(pte) == KIND_PRESENT;
    }

    public static boolean isDevicePrivate(long pte) {
        return kind(pte) == KIND_DEVICE_PRIVATE;
    }

    public static boolean isMigration(long pte) {
        return kind(pte) == KIND_MIGRATION;
    }

    public static boolean isExclusive(long pte) {
        return kind(pte) == KIND_EXCLUSIVE;
    }

    public static boolean isWrite(long pte) {
        return (pte & WRITE) != 0;
    }

    public static boolean isAccessed(long pte) {
        return (pte & ACCESSED) != 0;
    }

    public static boolean isDirty(long pte) {
        return (pte & DIRTY) != 0;
    }

    public static boolean isProtNone(long pte) {
        return (pte & PROTNONE) != 0;
    }

    public static boolean isDuplicated(long pte) {
        return (pte & DUPLICATED) != 0;
    }

    public static boolean isRemote(long pte) {
        return (pte & REMOTE) != 0;
    }

    public static long flags(long pte) {
        return pte & CARRIED;
    }

    public static long withFlags(long pte, long flags) {
        return pte | (flags & CARRIED);
    }

    public static long withoutFlags(long pte, long flags) {
        return pte & ~(flags & (CARRIED | REMOTE));
    }

    public static String toString(long pte) {
        if (pte == NONE) {
            return "none";
        }
        String kind = switch (kind(pte)) {
            case KIND_PRESENT -> "present";
            case KIND_DEVICE_PRIVATE -> "device-private";
            case KIND_MIGRATION -> "migration";
            case KIND_EXCLUSIVE -> "exclusive";
            default -> "kind" + kind(pte);
        };
        String owner = kind(pte) == KIND_EXCLUSIVE ? ",owner=" + exclusiveOwner(pte) : "";
        return kind + "(" + Pfn.toString(pfn(pte)) + owner + (isWrite(pte) ? ",W" : "") + (isAccessed(pte) ? ",A" : "")
                + (isDirty(pte) ? ",D" : "") + (isRemote(pte) ? ",R" : "") + (isProtNone(pte) ? ",N" : "") + (isDuplicated(pte) ? ",U" : "")
                + ((pte & LINK_ATOMIC) != 0 ? ",L" : "") + ")";
    }
}
