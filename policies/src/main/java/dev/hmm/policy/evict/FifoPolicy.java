package dev.hmm.policy.evict;

import dev.hmm.policy.EvictionContext;
import dev.hmm.policy.EvictionPolicy;
import dev.hmm.policy.PolicySpec;
import java.util.Arrays;

/**
 * First in, first out: the page resident longest goes first, accesses are ignored. The baseline every recency policy
 * is compared with; shows that a policy plugs in without touching the engine.
 */
@PolicySpec(name = "fifo", description = "oldest resident page first, accesses ignored")
public final class FifoPolicy implements EvictionPolicy {
    private static final int NONE = -1;
    private static final int OUT = -2;

    private final int[] prev;
    private final int[] next;
    private int head = NONE;
    private int tail = NONE;
    private int size;

    public FifoPolicy(EvictionContext context) {
        this.prev = context.prev();
        this.next = context.next();
        Arrays.fill(next, OUT);
        Arrays.fill(prev, NONE);
    }

    @Override
    public void onInsert(int frame) {
        if (next[frame] != OUT) {
            return; // already queued: keeps its place
        }
        prev[frame] = NONE;
        next[frame] = head;
        if (head != NONE) {
            prev[head] = frame;
        }
        head = frame;
        if (tail == NONE) {
            tail = frame;
        }
        size++;
    }

    @Override
    public void onAccess(int frame) {
    }

    @Override
    public void onRemove(int frame) {
        if (next[frame] == OUT) {
            return;
        }
        int p = prev[frame];
        int n = next[frame];
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
        next[frame] = OUT;
        prev[frame] = NONE;
        size--;
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
        onRemove(frame); // requeue at the back
        onInsert(frame);
    }

    @Override
    public int size() {
        return size;
    }
}
