package dev.hmm.mm;

import dev.hmm.concurrent.StripedAccessBuffer;
import dev.hmm.policy.EvictionContext;
import dev.hmm.policy.EvictionPolicy;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantLock;
import org.jctools.queues.MpscUnboundedXaddArrayQueue;

/**
 * The LRU surrogate of one device: ZONE_DEVICE frames have no usable {@code page->lru}, so the engine keeps their
 * recency here, over device frame numbers, in the {@link FrameTable}'s link arrays (8 of its 20 bytes per frame), and
 * hands it to the device's {@link EvictionPolicy}.
 *
 * <h2>Concurrency: BP-Wrapper, as Caffeine's {@code BoundedLocalCache}</h2>
 * Recording never blocks and never allocates on the access path:
 * <ul>
 * <li>"accessed" hints go into a lossy {@link StripedAccessBuffer} (one CAS, no retry; a full stripe first tries to
 *     drain; what is still refused is dropped and counted in {@code lruLostHints});</li>
 * <li>insertions and removals (a frame mapped on the device, isolated, freed) go into a lossless JCTools MPSC queue, one
 *     {@code int[]} per batch of frames (per migration, per unmap), never per page; removals are encoded as
 *     {@code ~frame};</li>
 * <li>whoever holds {@link #lock} (a try-lock on the recording path, a real lock for eviction) drains both into the
 *     policy, merged in each thread's own order: each event batch remembers how far its publisher's stripe of hints
 *     had got, and the hints before that point are applied before the batch; the rest of the hints come last. An
 *     insertion is applied only if the frame is still MAPPED at that moment, so the order in which concurrent batches
 *     reach the queue does not matter: a frame freed meanwhile is not inserted, and every later state change publishes
 *     its own event.</li>
 * <li>eviction takes its candidates under the lock and evicts them outside it; {@link #takeCandidatesLocked} and
 *     {@link MigrateDevice#evict} make sure a candidate whose frame was freed and reused meanwhile is not evicted.</li>
 * </ul>
 * Guarantees: the policy sees every insertion and removal; it sees every hint that was not counted as lost; with a
 * single accessor thread and eviction draining before it chooses (it always does) no hint is lost and hints and
 * insertions arrive in program order, which is what makes the {@code lru} policy exact.
 */
final class LruSurrogate implements EvictionContext {
    private static final int DRAIN_EVENT_BATCHES = 64;

    private final Device device;
    private final MemoryNode node;
    final EvictionPolicy policy;
    final ReentrantLock lock = new ReentrantLock();
    private final StripedAccessBuffer hints = StripedAccessBuffer.forThisMachine();
    private final MpscUnboundedXaddArrayQueue<EventBatch> events = new MpscUnboundedXaddArrayQueue<>(256);
    private final java.util.concurrent.atomic.AtomicInteger pendingBatches = new java.util.concurrent.atomic.AtomicInteger();
    private final LongAdder lostHints;

    LruSurrogate(Device device, EvictionPolicy.Factory factory) {
        this.device = device;
        this.node = device.node();
        this.lostHints = device.engine().stats.lruLostHints;
        java.util.Arrays.fill(node.table.lruPrev, -1);
        java.util.Arrays.fill(node.table.lruNext, -1);
        this.policy = factory.create(this);
    }

    // ------------------------------------------------------------------ EvictionContext

    @Override
    public int frames() {
        return node.frames();
    }

    @Override
    public String device() {
        return device.name();
    }

    @Override
    public int[] prev() {
        return node.table.lruPrev;
    }

    @Override
    public int[] next() {
        return node.table.lruNext;
    }

    @Override
    public long pageOf(int frame) {
        long r = node.table.laRmap(frame);
        return Rmap.isNone(r) ? -1 : Rmap.key(r);
    }

    // ------------------------------------------------------------------ recording

    /** Hot path: frame {@code index} was accessed. Never blocks. */
    void recordAccess(int index) {
        int r = hints.offer(index);
        if (r == StripedAccessBuffer.SUCCESS) {
            return;
        }
        if (r == StripedAccessBuffer.FULL && tryDrain() && hints.offer(index) == StripedAccessBuffer.SUCCESS) {
            return;
        }
        lostHints.increment();
    }

    /**
     * One published batch of insertions ({@code frame}) and removals ({@code ~frame}), with the point its publisher had
     * reached in its own stripe of hints: {@code stripe} had taken {@code hintsBefore} hints when the batch went out.
     */
    private record EventBatch(int[] frames, int n, int stripe, long hintsBefore) {
    }

    /** Publishes a batch of insertions ({@code frame}) and removals ({@code ~frame}); lossless. */
    void publish(int[] batch, int n) {
        if (n == 0) {
            return;
        }
        int stripe = hints.stripeOfCurrentThread();
        events.offer(new EventBatch(batch, n, stripe, hints.written(stripe)));
        if (pendingBatches.incrementAndGet() >= DRAIN_EVENT_BATCHES) {
            tryDrain(); // keep the queue short even when nothing is evicted for a long time
        }
    }

    /** Drains if the lock is free; returns whether it did. */
    boolean tryDrain() {
        if (!lock.tryLock()) {
            return false;
        }
        try {
            drainLocked();
        } finally {
            lock.unlock();
        }
        return true;
    }

    /**
     * Applies every pending event (each after the hints its publisher recorded before it), then the remaining hints,
     * to the policy. Caller holds {@link #lock}.
     */
    void drainLocked() {
        drainEventsLocked(null, 0);
        hints.drain(policy::onAccess);
    }

    /**
     * Takes {@code cand[0..k)}, just returned by the policy, as eviction candidates: records in {@code rmaps} whom each
     * frame holds, then applies the events published meanwhile and drops every candidate that one of them removed.
     * Returns how many candidates are left, compacted to the front of both arrays. Caller holds {@link #lock}.
     *
     * <p>Why: candidates are chosen under the lock but evicted outside it, as Linux isolates pages from its LRU under
     * {@code lru_lock} before it unmaps them. Without isolation a frame can be freed and handed to a newer page between
     * the choice and the eviction, which would then evict the most recently used page in place of the oldest. Every
     * path that frees a mapped frame publishes its removal before the frame becomes FREE, so a frame reused before
     * {@code rmaps[i]} was read has its removal in the queue by then, and the drain here finds it; one reused after
     * that read no longer holds {@code rmaps[i]}, which eviction checks ({@link MigrateDevice#evict}).
     */
    int takeCandidatesLocked(int[] cand, long[] rmaps, int k) {
        for (int i = 0; i < k; i++) {
            rmaps[i] = node.table.laRmap(cand[i]);
        }
        drainEventsLocked(cand, k);
        int n = 0;
        for (int i = 0; i < k; i++) {
            if (cand[i] >= 0) {
                cand[n] = cand[i];
                rmaps[n++] = rmaps[i];
            }
        }
        return n;
    }

    /**
     * Applies pending insertions and removals; a removal of a frame in {@code watch[0..k)} sets its slot to -1.
     *
     * <p>Before each batch, the hints its publisher recorded before publishing it are applied: one thread's hints and
     * events then reach the policy in the order that thread produced them. Applying all events first would rank a page
     * inserted after some hints below the hinted pages (the newest page would look the oldest to a drain between its
     * insertion and its first hint); applying all hints first would drop the hints of pages inserted in the same
     * drain. Across threads the order stays approximate, as in Caffeine.
     */
    private void drainEventsLocked(int[] watch, int k) {
        EventBatch b;
        while ((b = events.poll()) != null) {
            pendingBatches.decrementAndGet();
            hints.drainStripe(b.stripe(), b.hintsBefore(), policy::onAccess);
            int[] frames = b.frames();
            for (int j = 0, n = b.n(); j < n; j++) {
                int v = frames[j];
                if (v >= 0) {
                    if (node.table.state(v) == PageState.MAPPED) {
                        policy.onInsert(v);
                    }
                } else {
                    policy.onRemove(~v);
                    for (int i = 0; i < k; i++) {
                        if (watch[i] == ~v) {
                            watch[i] = -1;
                        }
                    }
                }
            }
        }
    }
}
