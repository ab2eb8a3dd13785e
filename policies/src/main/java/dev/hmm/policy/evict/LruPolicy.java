package dev.hmm.policy.evict;

import dev.hmm.policy.EvictionContext;
import dev.hmm.policy.EvictionPolicy;
import dev.hmm.policy.PolicySpec;
import java.util.Arrays;

/**
 * Least recently used, one 4 KiB page (one frame) at a time: UVMSmart's {@code LRU-4KB}, and Linux's LRU list for the
 * frames that cannot be on it. An intrusive doubly-linked list over frame numbers in the context's link arrays:
 * O(1) per event, no object per page. The head is the most recently used frame, the tail the victim. A skipped
 * candidate is rotated to the head, as Linux rotates a page it could not reclaim, so the next search moves on.
 */
@PolicySpec(name = "lru", description = "least recently used page (UVMSmart LRU-4KB)")
public final class LruPolicy implements EvictionPolicy {
    private static final int NONE = -1;
    /** {@code next[f] == OUT}: frame f is not on the list. */
    private static final int OUT = -2;

    private final int[] prev;
    private final int[] next;
    private int head = NONE;
    private int tail = NONE;
    private int size;

    public LruPolicy(EvictionContext context) {
        this.prev = context.prev();
        this.next = context.next();
        Arrays.fill(next, OUT);
        Arrays.fill(prev, NONE);
    }

    private boolean contains(int f) {
        return next[f] != OUT;
    }

    @Override
    public void onInsert(int frame) {
        if (contains(frame)) {
            moveToHead(frame);
        } else {
            linkHead(frame);
            size++;
        }
    }

    @Override
    public void onAccess(int frame) {
        if (contains(frame)) {
            moveToHead(frame);
        }
    }

    @Override
    public void onRemove(int frame) {
        if (contains(frame)) {
            unlink(frame);
            next[frame] = OUT;
            size--;
        }
    }

    @Override
    public int candidates(int[] out, int max) {
        int n = 0;
        for (int f = tail; f != NONE && n < max; f = prev[f]) {
            out[n++] = f;
        }
        return n;
    }

    @Override
    public void onSkipped(int frame, String reason) {
        if (contains(frame)) {
            moveToHead(frame);
        }
    }

    @Override
    public int size() {
        return size;
    }

    /** Frames from most to least recently used (tests and diagnostics). */
    public int[] order() {
        int[] o = new int[size];
        int n = 0;
        for (int f = head; f != NONE; f = next[f]) {
            o[n++] = f;
        }
        return o;
    }

    private void moveToHead(int f) {
        if (head == f) {
            return;
        }
        unlink(f);
        linkHead(f);
    }

    private void linkHead(int f) {
        prev[f] = NONE;
        next[f] = head;
        if (head != NONE) {
            prev[head] = f;
        }
        head = f;
        if (tail == NONE) {
            tail = f;
        }
    }

    private void unlink(int f) {
        int p = prev[f];
        int n = next[f];
        if (p != NONE) {
            next[p] = n;
        } else {
            head = n;
        }
        if (n != NONE) {
            prev[n] = p;
        } else {
            tail = p;
        }
        prev[f] = NONE;
        next[f] = NONE;
    }
}
