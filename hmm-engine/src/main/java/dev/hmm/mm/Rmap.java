package dev.hmm.mm;

/**
 * The reverse map of a frame ({@code folio->mapping} + {@code folio->index}, and the rmap walk they allow): which
 * address space and virtual page map it, so that a frame can be migrated knowing only its pfn
 * ({@code migrate_device_range}, eviction). Packed in one long. Never instantiated.
 *
 * <pre>
 *  63 62 61 60     40 39                                    0
 * +--+--+--+-----------+---------------------------------------+
 * |0 |F |D |  space id |   virtual page number (or file index)  |
 * +--+--+--+-----------+---------------------------------------+
 *  F = 0: anonymous, space id = AddressSpace id, low bits = vpn
 *  F = 1: file page (page cache), space id = file id, low bits = page index in the file
 *  D = 1: a read-duplicate: a device's read-only copy of the page, mapped by that device's mirror only (the CPU
 *         entry names the RAM original)
 * </pre>
 * Negative values map nothing: {@link #NONE}, or the free-list link that a FREE frame keeps in the same slot
 * ({@link FrameTable#freeLink}); test with {@link #isNone}, never by comparing with NONE.
 * Readers must validate: a reverse map read without holding the frame may be stale; the page-table entry it leads to
 * must still name the frame.
 */
public final class Rmap {
    public static final long NONE = -1L;
    static final int KEY_BITS = 40;
    static final long KEY_MASK = (1L << KEY_BITS) - 1;
    static final long FILE = 1L << 62;
    static final long DUP = 1L << 61;
    static final long FLAGS = FILE | DUP;
    static final int MAX_SPACES = 1 << 21;

    private Rmap() {
    }

    /** Whether the value maps nothing: {@link #NONE} or a free frame's free-list link (both negative). */
    static boolean isNone(long rmap) {
        return rmap < 0;
    }

    static long anon(int spaceId, long vpn) {
        return ((long) spaceId << KEY_BITS) | vpn;
    }

    static long file(int fileId, long index) {
        return FILE | ((long) fileId << KEY_BITS) | index;
    }

    static boolean isFile(long rmap) {
        return rmap >= 0 && (rmap & FILE) != 0;
    }

    static int space(long rmap) {
        return (int) ((rmap & ~FLAGS) >>> KEY_BITS);
    }

    static long duplicate(long rmap) {
        return rmap | DUP;
    }

    static boolean isDuplicate(long rmap) {
        return rmap >= 0 && (rmap & DUP) != 0;
    }

    static long key(long rmap) {
        return rmap & KEY_MASK;
    }
}
