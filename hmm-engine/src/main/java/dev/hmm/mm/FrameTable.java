package dev.hmm.mm;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The {@code struct page} table of one {@link MemoryNode}: frame metadata as a struct of parallel primitive arrays
 * indexed by frame index, with no Java object per page.
 *
 * <pre>
 *  array     type   writer                      reader       modes        meaning
 *  state     int[]  any (CAS)                   any          cas / la     PageState | page flags | pin count (below)
 *  rmap      long[] owner of the transition      any          so / la      reverse map: who maps the frame (Rmap);
 *                   {@link FreeList} pushers                  plain        while FREE: the free-list link instead
 *  lruPrev   int[]  LRU owner (its try-lock)     LRU owner    plain        device nodes only: the LRU surrogate
 *  lruNext   int[]  LRU owner (its try-lock)     LRU owner    plain        (page-&gt;lru is unusable for ZONE_DEVICE)
 *
 *  bytes per frame: 4 + 8 = 12 on RAM nodes, 12 + 4 + 4 = 20 on device nodes (Linux struct page: 64)
 * </pre>
 *
 * State word:
 * <pre>
 *  31               20 19              8 7        4 3      0
 * +-------------------+-----------------+----------+--------+
 * | transient refs(12)|  pin count (12) |  flags   | state  |
 * +-------------------+-----------------+----------+--------+
 *  flags: bit 4 PG_dirty (file pages: data newer than the file)
 *  pins: long-term ({@code pin_user_pages}, a device holding pages for DMA): isolation reports PINNED
 *  transient refs: a fault mapping a page-cache page holds one for a moment ({@code folio_get}): isolation reports
 *  BUSY, and the migration is simply retried later
 * </pre>
 * Every state change is one CAS on this word ({@link #tryTransition}); the flags and pins change by CAS on the same
 * word, so a transition can require "no pins" atomically (isolation) and a pin can require "MAPPED" atomically.
 *
 * <p>A free frame maps nothing, so its reverse-map slot carries the free-list link, as the buddy allocator reuses
 * {@code page->lru} of free pages: {@code FREE_LINK | (next index + 1)}, bit 63 set. Every valid reverse map is
 * non-negative, so a reader that meets a link (a stale read of a frame freed under it) sees "maps nothing"
 * ({@link Rmap#isNone}), exactly as it would see {@link Rmap#NONE}.
 */
public final class FrameTable {
    static final int STATE_MASK = 0xF;
    static final int FLAG_DIRTY = 1 << 4;
    static final int PIN_SHIFT = 8;
    static final int PIN_ONE = 1 << PIN_SHIFT;
    static final int MAX_PINS = (1 << 12) - 1;
    static final int REF_SHIFT = 20;
    static final int REF_ONE = 1 << REF_SHIFT;
    static final int MAX_REFS = (1 << 11) - 1;

    private static final VarHandle INT = MethodHandles.arrayElementVarHandle(int[].class);
    private static final VarHandle LONG = MethodHandles.arrayElementVarHandle(long[].class);

    /** Result codes of {@link #tryIsolate}. */
    static final int ISOLATED = 0;
    static final int ISOLATE_PINNED = 1;
    static final int ISOLATE_BUSY = 2;

    private final int node;
    private final int frames;
    private final int[] state;
    private final long[] rmap;
    final int[] lruPrev;
    final int[] lruNext;

    FrameTable(int node, int frames, boolean withLru) {
        this.node = node;
        this.frames = frames;
        this.state = new int[frames];
        this.rmap = new long[frames];
        this.lruPrev = withLru ? new int[frames] : null;
        this.lruNext = withLru ? new int[frames] : null;
        java.util.Arrays.fill(rmap, Rmap.NONE);
    }

    /** Bytes of metadata per frame (the arrays above, without array headers). */
    int bytesPerFrame() {
        return 4 + 8 + (lruPrev != null ? 8 : 0);
    }

    int frames() {
        return frames;
    }

    int node() {
        return node;
    }

    long pfn(int index) {
        return Pfn.of(node, index);
    }

    // ---------------------------------------------------------------- state word

    int laState(int i) {
        return (int) INT.getAcquire(state, i);
    }

    boolean casState(int i, int expect, int update) {
        return INT.compareAndSet(state, i, expect, update);
    }

    static PageState stateOf(int word) {
        return PageState.of(word & STATE_MASK);
    }

    static int pinsOf(int word) {
        return (word >>> PIN_SHIFT) & MAX_PINS;
    }

    static int refsOf(int word) {
        return word >>> REF_SHIFT;
    }

    PageState state(int i) {
        return stateOf(laState(i));
    }

    int pins(int i) {
        return pinsOf(laState(i));
    }

    /**
     * One CAS from {@code from} to {@code to}, keeping flags and pins. Linearizes at the CAS.
     *
     * @return false if the frame was not in {@code from} (a race the caller handles); retries only while the state
     *     stays {@code from} and other bits of the word change under it
     * @throws IllegalPageStateException if {@code from -> to} is not an edge of the state machine
     */
    boolean tryTransition(int i, PageState from, PageState to) {
        if (!PageState.isLegal(from, to)) {
            throw new IllegalPageStateException(pfn(i), state(i), from, to);
        }
        for (;;) {
            int w = laState(i);
            if ((w & STATE_MASK) != from.ordinal()) {
                return false;
            }
            int n = (w & ~STATE_MASK) | to.ordinal();
            if (to == PageState.FREE) {
                n = to.ordinal(); // a free frame carries no flags and no pins
            }
            if (casState(i, w, n)) {
                return true;
            }
        }
    }

    /** As {@link #tryTransition}, but a frame not in {@code from} is an engine bug: throws naming the frame. */
    void transition(int i, PageState from, PageState to) {
        if (!tryTransition(i, from, to)) {
            throw new IllegalPageStateException(pfn(i), state(i), from, to);
        }
    }

    /**
     * MAPPED with no pins -&gt; ISOLATED, one CAS (the {@code folio_trylock} + {@code migrate_vma_check_page} step).
     *
     * @return {@link #ISOLATED}, {@link #ISOLATE_PINNED} (a pin holds it), or {@link #ISOLATE_BUSY} (not MAPPED)
     */
    int tryIsolate(int i) {
        for (;;) {
            int w = laState(i);
            if ((w & STATE_MASK) != PageState.MAPPED.ordinal()) {
                return ISOLATE_BUSY;
            }
            if (pinsOf(w) != 0) {
                return ISOLATE_PINNED;
            }
            if (refsOf(w) != 0) {
                return ISOLATE_BUSY;
            }
            if (casState(i, w, (w & ~STATE_MASK) | PageState.ISOLATED.ordinal())) {
                return ISOLATED;
            }
        }
    }

    /** Takes a long-term pin: MAPPED|p -&gt; MAPPED|p+1. False if the frame is not MAPPED (isolated, being freed). */
    boolean tryPin(int i) {
        for (;;) {
            int w = laState(i);
            if ((w & STATE_MASK) != PageState.MAPPED.ordinal()) {
                return false;
            }
            if (pinsOf(w) >= MAX_PINS) {
                throw new IllegalStateException("frame " + Pfn.toString(pfn(i)) + ": pin count overflow");
            }
            if (casState(i, w, w + PIN_ONE)) {
                return true;
            }
        }
    }

    void unpin(int i) {
        for (;;) {
            int w = laState(i);
            if (pinsOf(w) == 0) {
                throw new IllegalStateException("frame " + Pfn.toString(pfn(i)) + ": unpin without a pin (state "
                        + stateOf(w) + ")");
            }
            if (casState(i, w, w - PIN_ONE)) {
                return;
            }
        }
    }

    /** Takes a transient reference: MAPPED|r -&gt; MAPPED|r+1. False if the frame is not MAPPED. */
    boolean tryRef(int i) {
        for (;;) {
            int w = laState(i);
            if ((w & STATE_MASK) != PageState.MAPPED.ordinal() || refsOf(w) >= MAX_REFS) {
                return false;
            }
            if (casState(i, w, w + REF_ONE)) {
                return true;
            }
        }
    }

    void unref(int i) {
        for (;;) {
            int w = laState(i);
            if (refsOf(w) == 0) {
                throw new IllegalStateException("frame " + Pfn.toString(pfn(i)) + ": unref without a reference");
            }
            if (casState(i, w, w - REF_ONE)) {
                return;
            }
        }
    }

    boolean testFlag(int i, int flag) {
        return (laState(i) & flag) != 0;
    }

    /** Sets or clears a page flag by CAS; returns the previous value of the flag. */
    boolean updateFlag(int i, int flag, boolean set) {
        for (;;) {
            int w = laState(i);
            int n = set ? (w | flag) : (w & ~flag);
            if (n == w || casState(i, w, n)) {
                return (w & flag) != 0;
            }
        }
    }

    // ---------------------------------------------------------------- reverse map

    long laRmap(int i) {
        return (long) LONG.getAcquire(rmap, i);
    }

    /** Tag of a free-list link kept in the reverse-map slot of a FREE frame (bit 63: never a valid reverse map). */
    static final long FREE_LINK = Long.MIN_VALUE;

    /**
     * The free-list link of frame {@code i} (next index + 1, 0 = end), or -1 when the slot holds no link (the frame
     * was popped and mapped meanwhile: {@link FreeList#pop} then discards its walk). Plain read, see FreeList.
     */
    int freeLink(int i) {
        long v = rmap[i];
        return (v & FREE_LINK) != 0 && v != Rmap.NONE ? (int) v : -1;
    }

    /** Plain store of a free-list link; published by the CAS of the free-list head that follows it. */
    void setFreeLink(int i, int nextPlusOne) {
        rmap[i] = FREE_LINK | (nextPlusOne & 0xFFFF_FFFFL);
    }

    /** Ordered store: published before the page-table entry that makes the frame reachable (a later CAS). */
    void soRmap(int i, long value) {
        LONG.setRelease(rmap, i, value);
    }
}
