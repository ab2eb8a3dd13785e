package dev.hmm.mm;

/**
 * The explicit per-frame state machine. Every transition is one CAS on the frame's state word in {@link FrameTable}
 * and happens whole or not at all; an edge not listed below is refused with {@link IllegalPageStateException}.
 *
 * <pre>
 *                 alloc                install (map / finalize dst)
 *       FREE ---------------&gt; ALLOCATED ---------------------&gt; MAPPED
 *        ^  ^                   |                               |  ^
 *        |  |  discard unused   |            collect (isolate)  |  | restore (finalize, not migrated)
 *        |  +-------------------+                               v  |
 *        |       unmap / zap (MAPPED -&gt; FREE)                  ISOLATED
 *        +----------------------------------------------------- |
 *                      migrated: source freed (ISOLATED -&gt; FREE)
 * </pre>
 *
 * Pins (long-term, {@code pin_user_pages} analogue) live in the same word and are only allowed in {@link #MAPPED};
 * isolation requires zero pins, so a pinned page can never be isolated (the {@code migrate_vma_check_page} rule).
 */
public enum PageState {
    /** On its node's free list; owns no data. */
    FREE,
    /** Taken from the free list (a migration destination being filled, or a fresh page being zeroed); not mapped. */
    ALLOCATED,
    /** Referenced by exactly one page-table entry (present or device-private) and its reverse map. */
    MAPPED,
    /**
     * Collected by a migration: its page-table entry is a migration entry, its content is stable, no accessor can
     * reach it. The {@code folio_isolate_lru} + {@code folio_trylock} state of Linux.
     */
    ISOLATED;

    private static final PageState[] VALUES = values();
    private static final boolean[][] LEGAL = new boolean[VALUES.length][VALUES.length];

    static {
        edge(FREE, ALLOCATED);
        edge(ALLOCATED, MAPPED);
        edge(ALLOCATED, FREE);
        edge(MAPPED, ISOLATED);
        edge(ISOLATED, MAPPED);
        edge(ISOLATED, FREE);
        edge(MAPPED, FREE);
    }

    private static void edge(PageState from, PageState to) {
        LEGAL[from.ordinal()][to.ordinal()] = true;
    }

    /** Whether {@code from -> to} is an edge of the state machine. */
    public static boolean isLegal(PageState from, PageState to) {
        return LEGAL[from.ordinal()][to.ordinal()];
    }

    static PageState of(int ordinal) {
        return VALUES[ordinal];
    }
}
