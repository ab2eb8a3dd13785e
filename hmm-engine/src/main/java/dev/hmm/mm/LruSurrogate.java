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
 *     policy: events first, then hints. An insertion is applied only if the frame is still MAPPED at that moment, so
 *     the order in which concurrent batches reach the queue does not matter: a frame freed meanwhile is not inserted,
 *     and every later state change publishes its own event.</li>
 * </ul>
 * Guarantees: the policy sees every insertion and removal; it sees every hint that was not counted as lost; with a
 * single accessor thread and eviction draining before it chooses (it always does) no hint is lost, which is what
 * makes the {@code lru} policy exact.
 */
final class LruSurrogate implements EvictionContext {
    private static final int DRAIN_EVENT_BATCHES = 64;

    private final Device device;
    private final MemoryNode node;
    final EvictionPolicy policy;
    final ReentrantLock lock = new ReentrantLock();
    private final StripedAccessBuffer hints = StripedAccessBuffer.forThisMachine();
    private final MpscUnboundedXaddArrayQueue<int[]> events = new MpscUnboundedXaddArrayQueue<>(256);
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

    /** Publishes a batch of insertions ({@code frame}) and removals ({@code ~frame}); lossless. */
    void publish(int[] batch, int n) {
        if (n == 0) {
            return;
        }
        events.offer(n == batch.length ? batch : java.util.Arrays.copyOf(batch, n));
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

    /** Applies every pending event, then every pending hint, to the policy. Caller holds {@link #lock}. */
    void drainLocked() {
        int[] batch;
        while ((batch = events.poll()) != null) {
            pendingBatches.decrementAndGet();
            for (int v : batch) {
                if (v >= 0) {
                    if (node.table.state(v) == PageState.MAPPED) {
                        policy.onInsert(v);
                    }
                } else {
                    policy.onRemove(~v);
                }
            }
        }
        hints.drain(policy::onAccess);
    }
}
