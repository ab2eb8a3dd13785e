package dev.hmm.mm;

/**
 * The {@code MIGRATE_PFN_*} encoding of {@code migrate_vma}'s {@code src[]} and {@code dst[]} arrays: one long per
 * page, pfn in the high bits, per-page flags in the low bits. Each phase reads the flags the previous one left; a page
 * that fails anywhere loses {@link #MIGRATE} and is restored at finalize. Never instantiated.
 *
 * <pre>
 *  63                                        6 5   4 3 2 1 0
 * +-------------------------------------------+-----+-+-+-+-+
 * |                    pfn                    | rsv |W|-|M|V|
 * +-------------------------------------------+-----+-+-+-+-+
 *  V MIGRATE_PFN_VALID    the pfn field is valid (src: there is a source page; dst: a destination was allocated)
 *  M MIGRATE_PFN_MIGRATE  the page is (still) migrating; cleared on any failure
 *  W MIGRATE_PFN_WRITE    the source mapping was writable
 *  src with M but not V: a hole (pte_none) of an anonymous VMA: populate-on-migrate, the destination is zero-filled
 * </pre>
 */
public final class MigratePfn {
    public static final long VALID = 1L;
    public static final long MIGRATE = 1L << 1;
    public static final long WRITE = 1L << 3;
    static final int SHIFT = 6;

    private MigratePfn() {
    }

    /** {@code migrate_pfn(pfn)}: the pfn with VALID set. */
    public static long of(long pfn) {
        return (pfn << SHIFT) | VALID;
    }

    public static long pfn(long mpfn) {
        return mpfn >>> SHIFT;
    }

    public static boolean isValid(long mpfn) {
        return (mpfn & VALID) != 0;
    }

    public static boolean isMigrating(long mpfn) {
        return (mpfn & MIGRATE) != 0;
    }

    public static boolean isWrite(long mpfn) {
        return (mpfn & WRITE) != 0;
    }
}
