package dev.hmm.mm;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The free frames of one node: a lock-free intrusive stack (Treiber) linked through the reverse-map slot of each
 * free frame ({@link FrameTable#setFreeLink}), as the buddy allocator links free pages through {@code page->lru}.
 * Allocation and freeing move whole batches in one CAS each, so {@code migrate_vma} pays one atomic per batch, not
 * per page, and no object is created per frame.
 *
 * <p>Why not a JCTools queue: its queues hold objects, so a frame number would be boxed per page; an intrusive stack
 * over the frame table needs no allocation at all. Cross-thread work (copy stripes, completions, faults, LRU events)
 * does flow through JCTools queues.
 *
 * <h2>Protocol</h2>
 * <pre>
 *  head word:  63            32 31                0
 *             +----------------+-------------------+
 *             |  ABA tag       |  top index + 1    |   (0 = empty)
 *             +----------------+-------------------+
 * </pre>
 * <ul>
 * <li>push(batch): link the batch through the frames' link slots (plain stores), last -&gt; old top; CAS head to
 *     (tag+1, first).
 *     The CAS (volatile) publishes the links to any popper that reads the new head.</li>
 * <li>pop(n): read head (volatile), walk up to n links, CAS head to (tag+1, n-th next). Any push or pop between
 *     the read and the CAS changes the tag, so a successful CAS proves that the walked links were the stack's and
 *     untouched (no ABA). Links read during a walk that then fails may be stale or garbage: they are bounds-checked
 *     and discarded (benign race). A slot whose frame was popped and mapped meanwhile holds a reverse map, not a
 *     link ({@link FrameTable#freeLink} returns -1), and is discarded the same way.</li>
 * </ul>
 * Invariant: a frame is on the stack iff its state is FREE (callers transition before push and after pop).
 */
final class FreeList {
    private static final long INDEX_MASK = 0xFFFF_FFFFL;

    private final FrameTable table;
    private final AtomicLong head = new AtomicLong();
    /** Frames on the stack; updated after each successful CAS, so it may lag by one batch (benign for watermarks). */
    private final AtomicLong count = new AtomicLong();

    FreeList(FrameTable table) {
        this.table = table;
    }

    long count() {
        return count.get();
    }

    /** Pushes {@code n} frame indexes (all already FREE) in one CAS. */
    void push(int[] frames, int from, int n) {
        if (n <= 0) {
            return;
        }
        FrameTable t = table;
        for (int k = from; k < from + n - 1; k++) {
            t.setFreeLink(frames[k], frames[k + 1] + 1);
        }
        int first = frames[from];
        int last = frames[from + n - 1];
        for (;;) {
            long h = head.get();
            t.setFreeLink(last, (int) (h & INDEX_MASK));
            long nh = (((h >>> 32) + 1) << 32) | (first + 1L);
            if (head.compareAndSet(h, nh)) {
                count.addAndGet(n);
                return;
            }
        }
    }

    void push(int frame) {
        for (;;) {
            long h = head.get();
            table.setFreeLink(frame, (int) (h & INDEX_MASK));
            long nh = (((h >>> 32) + 1) << 32) | (frame + 1L);
            if (head.compareAndSet(h, nh)) {
                count.incrementAndGet();
                return;
            }
        }
    }

    /** Walks the stack and returns its length (at most {@code limit}); only meaningful while nobody allocates. */
    long walk(long limit) {
        long n = 0;
        int cur = (int) (head.get() & INDEX_MASK);
        while (cur > 0 && n < limit) {
            n++;
            cur = table.freeLink(cur - 1);
        }
        return n;
    }

    /**
     * Pops up to {@code n} frames into {@code out[from..]}.
     *
     * @return the number popped (less than n only when the stack ran empty)
     */
    int pop(int[] out, int from, int n) {
        FrameTable t = table;
        int frames = t.frames();
        retry:
        for (;;) {
            long h = head.get();
            int top = (int) (h & INDEX_MASK);
            int got = 0;
            int cur = top;
            while (got < n && cur != 0) {
                int idx = cur - 1;
                if (idx < 0 || idx >= frames) {
                    continue retry; // garbage link read during a concurrent change: the CAS would fail anyway
                }
                out[from + got++] = idx;
                cur = t.freeLink(idx); // -1 if the frame was popped and mapped meanwhile: caught above next turn
            }
            if (got == 0) {
                return 0;
            }
            long nh = (((h >>> 32) + 1) << 32) | (cur & INDEX_MASK);
            if (head.compareAndSet(h, nh)) {
                count.addAndGet(-got);
                return got;
            }
        }
    }
}
