package dev.hmm.mm;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A page table of 64-bit {@link Pte} words indexed by virtual page number: a radix tree of four levels of 512 slots
 * (pgd / pud / pmd / pte, as x86-64), so a leaf of 512 entries covers one 2 MiB block at 4 KiB pages (one UVM VA
 * block). Directory levels are created lazily by CAS and never removed until {@link #clear()} (lock-serialised
 * device mirrors alone also unlink empty leaves, {@link #dropLeafIfEmpty}), so a leaf reference,
 * once found, stays valid for the table's life.
 *
 * <h2>Entries</h2>
 * Entries change only by CAS ({@link #casPte}); loads are acquire ({@link #laPte}). A successful CAS is the
 * linearization point of every page-table change (map, fault, migration entry, restore, zap); a failed CAS means
 * another thread changed the entry and the caller re-reads or gives the page up, never overwrites.
 *
 * <p>Used for CPU page tables ({@link AddressSpace}) and for device mirror tables.
 */
public final class PageTable {
    static final int LEVEL_BITS = 9;
    static final int FANOUT = 1 << LEVEL_BITS;
    static final int SLOT_MASK = FANOUT - 1;
    /** Virtual address bits modelled (x86-64 with 4-level paging). */
    public static final int VA_BITS = 48;

    private static final VarHandle PTE = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle DIR = MethodHandles.arrayElementVarHandle(Object[].class);

    private final int vpnBits;
    private volatile Object[] top;
    /** Leaves linked in the table (for footprint reports). */
    private final java.util.concurrent.atomic.AtomicLong leaves = new java.util.concurrent.atomic.AtomicLong();

    public PageTable(int pageShift) {
        this.vpnBits = VA_BITS - pageShift;
        this.top = new Object[1 << Math.max(0, vpnBits - 3 * LEVEL_BITS)];
    }

    /** Number of virtual pages this table can address. */
    public long maxVpn() {
        return 1L << vpnBits;
    }

    static int slot(long vpn) {
        return (int) (vpn & SLOT_MASK);
    }

    /** The leaf holding {@code vpn}'s entry, or null if none was ever created. */
    public long[] leaf(long vpn) {
        Object[] l1 = top;
        Object[] l2 = (Object[]) DIR.getAcquire(l1, (int) (vpn >>> (3 * LEVEL_BITS)));
        if (l2 == null) {
            return null;
        }
        Object[] l3 = (Object[]) DIR.getAcquire(l2, (int) ((vpn >>> (2 * LEVEL_BITS)) & SLOT_MASK));
        if (l3 == null) {
            return null;
        }
        return (long[]) DIR.getAcquire(l3, (int) ((vpn >>> LEVEL_BITS) & SLOT_MASK));
    }

    /** The leaf holding {@code vpn}'s entry, creating directory levels as needed (CAS; the loser's level is dropped). */
    public long[] leafOrCreate(long vpn) {
        long[] leaf = leaf(vpn);
        if (leaf != null) {
            return leaf;
        }
        if (vpn < 0 || vpn >= maxVpn()) {
            throw new IllegalArgumentException("virtual page " + Long.toHexString(vpn) + " beyond the " + VA_BITS
                    + "-bit address space");
        }
        Object[] l2 = (Object[]) level(top, (int) (vpn >>> (3 * LEVEL_BITS)), false);
        Object[] l3 = (Object[]) level(l2, (int) ((vpn >>> (2 * LEVEL_BITS)) & SLOT_MASK), false);
        return (long[]) level(l3, (int) ((vpn >>> LEVEL_BITS) & SLOT_MASK), true);
    }

    private Object level(Object[] dir, int i, boolean isLeaf) {
        Object cur = DIR.getAcquire(dir, i);
        if (cur != null) {
            return cur;
        }
        Object fresh = isLeaf ? new long[FANOUT] : new Object[FANOUT];
        Object witness = DIR.compareAndExchange(dir, i, (Object) null, fresh);
        if (witness == null) {
            if (isLeaf) {
                leaves.incrementAndGet();
            }
            return fresh;
        }
        return witness;
    }

    /** Acquire load of an entry; {@link Pte#NONE} where no leaf exists. */
    public long laPte(long vpn) {
        long[] leaf = leaf(vpn);
        return leaf == null ? Pte.NONE : laPte(leaf, slot(vpn));
    }

    public static long laPte(long[] leaf, int slot) {
        return (long) PTE.getAcquire(leaf, slot);
    }

    /** Volatile load: pairs with a volatile store on the caller's side (the TLB enter protocol, see {@link Tlb}). */
    public static long lvPte(long[] leaf, int slot) {
        return (long) PTE.getVolatile(leaf, slot);
    }

    /**
     * Volatile CAS of one entry: the linearization point of every page-table change. A failed CAS means another
     * thread changed the entry first; the caller re-reads or drops the page, as {@code migrate_vma_collect_pmd}
     * drops a page whose pte changed under it.
     */
    public static boolean casPte(long[] leaf, int slot, long expect, long update) {
        return PTE.compareAndSet(leaf, slot, expect, update);
    }

    /** Visits a leaf of the table: {@code baseVpn} is the vpn of {@code leaf[0]}. */
    @FunctionalInterface
    public interface LeafVisitor {
        void visit(long baseVpn, long[] leaf);
    }

    /** Visits every leaf ever created, in address order. Entries may change while visited. */
    public void forEachLeaf(LeafVisitor visitor) {
        Object[] l1 = top;
        for (int a = 0; a < l1.length; a++) {
            Object[] l2 = (Object[]) DIR.getAcquire(l1, a);
            if (l2 == null) {
                continue;
            }
            for (int b = 0; b < FANOUT; b++) {
                Object[] l3 = (Object[]) DIR.getAcquire(l2, b);
                if (l3 == null) {
                    continue;
                }
                for (int c = 0; c < FANOUT; c++) {
                    long[] leaf = (long[]) DIR.getAcquire(l3, c);
                    if (leaf != null) {
                        long base = (((long) a << (2 * LEVEL_BITS)) | ((long) b << LEVEL_BITS) | c) << LEVEL_BITS;
                        visitor.visit(base, leaf);
                    }
                }
            }
        }
    }

    /**
     * A volatile store, for tables whose writers are serialised by a lock (device mirrors); CPU page tables change
     * only by {@link #casPte}.
     */
    static void storePte(long[] leaf, int slot, long value) {
        PTE.setVolatile(leaf, slot, value);
    }

    /**
     * A release store, for a lock-serialised table (a device mirror) publishing an entry: readers that load it
     * (volatile) see everything before it. Not for removing an entry: a removal pairs with the TLB flush that follows
     * it (store, then read the accessors' slots), which needs the volatile store of {@link #storePte}.
     */
    static void storePteRelease(long[] leaf, int slot, long value) {
        PTE.setRelease(leaf, slot, value);
    }

    /**
     * Clears an entry of a lock-serialised table with a release store, for a caller that clears several and then
     * issues one {@link java.lang.invoke.VarHandle#fullFence()} before the TLB flush: the fence orders every clear
     * before the flush's reads of the accessors' slots, as a volatile store per entry would, for one fence per batch
     * instead of one per entry.
     */
    static void clearPteBeforeFence(long[] leaf, int slot) {
        PTE.setRelease(leaf, slot, Pte.NONE);
    }

    /** A blind volatile store, for {@link TestHooks} only: every real change goes through {@link #casPte}. */
    static void storePteForTest(long[] leaf, int slot, long value) {
        PTE.setVolatile(leaf, slot, value);
    }

    /**
     * Unlinks the leaf of {@code vpn} if every entry in it is {@link Pte#NONE}, so that a table whose entries come
     * and go (a device mirror under oversubscription: every eviction clears one) does not keep a leaf for every
     * page ever mapped, as {@code free_pgtables} reclaims empty page-table pages. Only for tables whose writers
     * are serialised by a lock the caller holds (device mirrors): a writer always finds its leaf through
     * {@link #leafOrCreate} under that lock, so nobody writes into an unlinked leaf; a lock-free reader that still
     * holds it reads only NONE (a miss, as after the clear) and the garbage collector frees it when the last reader
     * lets go. Directory levels stay.
     *
     * <p>The scan starts just after {@code vpn}'s slot and wraps: evictions clear pages in LRU order, mostly
     * ascending, so a leaf still in use shows a live entry within a slot or two.
     *
     * @return whether a leaf was unlinked
     */
    boolean dropLeafIfEmpty(long vpn) {
        Object[] l2 = (Object[]) DIR.getAcquire(top, (int) (vpn >>> (3 * LEVEL_BITS)));
        if (l2 == null) {
            return false;
        }
        Object[] l3 = (Object[]) DIR.getAcquire(l2, (int) ((vpn >>> (2 * LEVEL_BITS)) & SLOT_MASK));
        if (l3 == null) {
            return false;
        }
        int i = (int) ((vpn >>> LEVEL_BITS) & SLOT_MASK);
        long[] leaf = (long[]) DIR.getAcquire(l3, i);
        if (leaf == null) {
            return false;
        }
        int from = slot(vpn) + 1;
        for (int k = 0; k < FANOUT; k++) {
            if ((long) PTE.getAcquire(leaf, (from + k) & SLOT_MASK) != Pte.NONE) {
                return false;
            }
        }
        DIR.setRelease(l3, i, (Object) null);
        leaves.decrementAndGet();
        return true;
    }

    /** Number of leaves in the table (each {@value #FANOUT} entries, 4 KiB). */
    public long leafCount() {
        return leaves.get();
    }

    /** Drops every level; only when no thread can access the table any more (address-space teardown). */
    void clear() {
        top = new Object[top.length];
        leaves.set(0);
    }
}
