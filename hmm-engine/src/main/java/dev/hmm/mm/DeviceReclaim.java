package dev.hmm.mm;

import java.util.concurrent.locks.LockSupport;

/**
 * Reclaim of one device's memory through its {@link LruSurrogate} and {@link MigrateDevice}: direct reclaim by a thread
 * that could not allocate, and a background reclaimer ({@code kswapd} for device memory) woken when free frames fall
 * below the low watermark, evicting until {@code low + batch} are free.
 *
 * <h2>Bounded victim search</h2>
 * Each round drains the LRU, asks the policy for candidates, and tries to evict them; a candidate that cannot go
 * (pinned, busy, no RAM) is skipped with a counted reason and reported to the policy ({@code onSkipped}), which may
 * rotate it. A call examines at most {@code 4 * need + 64} candidates and then returns what it freed, even if short:
 * eviction never livelocks (the UVMSmart simulator spins forever when an untouched page heads its list).
 */
final class DeviceReclaim implements Runnable {
    private final HmmEngine engine;
    private final Device device;
    private final LruSurrogate lru;
    private final EvictionConfig config;
    private final Thread kswapd;
    /** The fewest frames one direct reclaim frees: the configured cluster, capped for this device's size. */
    private final int cluster;
    private volatile boolean closed;
    private volatile boolean idle;
    private volatile boolean paused;
    /** Held by the background reclaimer for one round; {@link #pause} takes it to wait for the round to end. */
    private final java.util.concurrent.locks.ReentrantLock pass = new java.util.concurrent.locks.ReentrantLock();

    DeviceReclaim(HmmEngine engine, Device device, LruSurrogate lru, EvictionConfig config) {
        this.engine = engine;
        this.device = device;
        this.lru = lru;
        this.config = config;
        this.cluster = config.reclaimClusterFor(device.node().frames());
        if (config.lowWatermarkFrames() > 0) {
            this.kswapd = Thread.ofPlatform().daemon().name("hmm-reclaim-" + device.name()).unstarted(this);
            kswapd.start();
        } else {
            this.kswapd = null;
        }
    }

    /**
     * Direct reclaim ({@code try_to_free_pages}): evicts at least a cluster of frames ({@link
     * EvictionConfig#reclaimCluster}), more if the allocation needs more, then allocates up to {@code need} into
     * {@code out[from..]}. The frames beyond {@code need} stay free for the next faults, which then allocate without
     * reclaiming: one {@code migrate_device_range} call, one TLB flush and one LRU drain per cluster instead of per
     * page.
     *
     * @return frames allocated
     */
    int reclaimAndAllocate(int[] out, int from, int need) {
        int got = 0;
        for (int attempt = 0; attempt < 2 && got < need; attempt++) {
            reclaim(Math.max(need - got, cluster));
            got += device.node().allocate(out, from + got, need - got);
        }
        return got;
    }

    /** After an allocation: wake the background reclaimer if free frames fell below the low watermark. */
    void afterAllocation() {
        if (kswapd != null && idle && device.node().freeFrames() < config.lowWatermarkFrames()) {
            LockSupport.unpark(kswapd);
        }
    }

    /**
     * Evicts up to {@code need} frames.
     *
     * @return frames evicted
     */
    int reclaim(int need) {
        int freed = 0;
        int maxScan = 4 * need + 64;
        int scanned = 0;
        int batch = Math.max(1, Math.min(config.batch(), need));
        int[] cand = new int[Math.max(batch, 16)];
        long[] rmaps = new long[cand.length];
        MigrateResult[] res = new MigrateResult[cand.length];
        while (freed < need && scanned < maxScan) {
            int chosen;
            int k;
            lru.lock.lock();
            try {
                lru.drainLocked();
                chosen = lru.policy.candidates(cand, Math.min(cand.length, Math.max(need - freed, 1)));
                k = lru.takeCandidatesLocked(cand, rmaps, chosen);
            } finally {
                lru.lock.unlock();
            }
            if (chosen == 0) {
                break;
            }
            scanned += chosen;
            if (k == 0) {
                continue; // every candidate was freed meanwhile: choose again
            }
            int evicted = engine.migrateDevice.evict(device, cand, rmaps, k, res);
            freed += evicted;
            engine.stats.evictions.add(evicted);
            boolean anySkip = false;
            for (int i = 0; i < k; i++) {
                if (res[i] != MigrateResult.MIGRATED) {
                    engine.stats.evictionSkips[res[i].ordinal()].increment();
                    anySkip = true;
                }
            }
            if (anySkip) {
                lru.lock.lock();
                try {
                    lru.drainLocked(); // removals and put-backs of this round first
                    for (int i = 0; i < k; i++) {
                        if (res[i] != MigrateResult.MIGRATED) {
                            lru.policy.onSkipped(cand[i], res[i].key());
                        }
                    }
                } finally {
                    lru.lock.unlock();
                }
            }
        }
        return freed;
    }

    @Override
    public void run() {
        long low = config.lowWatermarkFrames();
        while (!closed) {
            if (backgroundPass(low)) {
                continue;
            }
            idle = true;
            if (device.node().freeFrames() >= low && !closed) {
                LockSupport.parkNanos(this, 10_000_000L); // also re-checks periodically: frees may lag
            } else if (!closed) {
                LockSupport.parkNanos(this, 1_000_000L); // nothing evictable now: back off
            }
            idle = false;
        }
    }

    /** One background eviction round, unless paused; returns whether it freed anything. */
    private boolean backgroundPass(long low) {
        pass.lock();
        try {
            long free = device.node().freeFrames();
            if (paused || free >= low) {
                return false;
            }
            int need = (int) Math.min(Integer.MAX_VALUE, low + config.batch() - free);
            return reclaim(need) > 0;
        } finally {
            pass.unlock();
        }
    }

    /**
     * Stops background reclaim and waits for a round in flight to finish: an invariant check needs the engine at rest,
     * and the background reclaimer would otherwise evict (lock page-cache pages, install migration entries) under it.
     * Direct reclaim is not affected: it runs only inside a caller's allocation.
     */
    void pause() {
        paused = true;
        pass.lock(); // a round in progress finishes first; later ones see paused
        pass.unlock();
    }

    void resume() {
        paused = false;
        if (kswapd != null) {
            LockSupport.unpark(kswapd);
        }
    }

    void close() {
        closed = true;
        if (kswapd != null) {
            LockSupport.unpark(kswapd);
            try {
                kswapd.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
