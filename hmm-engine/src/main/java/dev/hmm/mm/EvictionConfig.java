package dev.hmm.mm;

import dev.hmm.policy.EvictionPolicy;

/**
 * How a device reclaims its memory under oversubscription.
 *
 * @param policy the eviction policy factory, or null for none (a device that runs out of memory maps the rest
 *     remotely and never evicts)
 * @param lowWatermarkFrames when free frames fall below this, a background reclaimer ({@code kswapd}-like) evicts
 *     until {@code lowWatermarkFrames + batch} are free; 0 evicts on demand only (direct reclaim by the allocating
 *     thread)
 * @param batch victims per {@code migrate_device_range} call
 * @param reclaimCluster the fewest frames one direct reclaim frees, as Linux's direct reclaim frees at least
 *     {@code SWAP_CLUSTER_MAX} (32) pages however few the allocation needs: a one-page fault on a full device evicts
 *     a cluster of victims in one {@code migrate_device_range} call instead of paying that call for every page. Never
 *     more than 1/64 of the device's frames, so that a small device is not emptied by one fault. 1 evicts exactly
 *     what each allocation needs: the engine's device faults then equal the policy's own misses (with {@code lru},
 *     a textbook LRU cache's), which a policy study may want over the speed
 */
public record EvictionConfig(EvictionPolicy.Factory policy, long lowWatermarkFrames, int batch, int reclaimCluster) {
    /** Linux's {@code SWAP_CLUSTER_MAX}: the pages one direct reclaim aims to free. */
    public static final int SWAP_CLUSTER_MAX = 32;

    /** No eviction. */
    public static final EvictionConfig NONE = new EvictionConfig(null, 0, 64);

    public EvictionConfig {
        if (lowWatermarkFrames < 0) {
            throw new IllegalArgumentException("eviction watermark must not be negative: lowWatermarkFrames="
                    + lowWatermarkFrames);
        }
        if (batch < 1 || batch > 1 << 16) {
            throw new IllegalArgumentException("eviction batch must be 1..65536 frames: batch=" + batch);
        }
        if (reclaimCluster < 1 || reclaimCluster > 1 << 16) {
            throw new IllegalArgumentException("reclaim cluster must be 1..65536 frames: reclaimCluster="
                    + reclaimCluster);
        }
        if (policy == null && lowWatermarkFrames > 0) {
            throw new IllegalArgumentException("an eviction watermark needs an eviction policy");
        }
    }

    /** As the canonical constructor, with a reclaim cluster of {@link #SWAP_CLUSTER_MAX}. */
    public EvictionConfig(EvictionPolicy.Factory policy, long lowWatermarkFrames, int batch) {
        this(policy, lowWatermarkFrames, batch, SWAP_CLUSTER_MAX);
    }

    /** Evict with {@code policy} on demand only, 64 victims per batch, clusters of {@link #SWAP_CLUSTER_MAX}. */
    public static EvictionConfig onDemand(EvictionPolicy.Factory policy) {
        return new EvictionConfig(policy, 0, 64);
    }

    public EvictionConfig withLowWatermark(long frames) {
        return new EvictionConfig(policy, frames, batch, reclaimCluster);
    }

    /** The same, with direct reclaim freeing at least {@code frames} frames (1: exactly what is needed). */
    public EvictionConfig withReclaimCluster(int frames) {
        return new EvictionConfig(policy, lowWatermarkFrames, batch, frames);
    }

    /** The cluster a direct reclaim on a device of {@code deviceFrames} frames frees at least: capped at 1/64 of it. */
    int reclaimClusterFor(long deviceFrames) {
        return (int) Math.max(1, Math.min(reclaimCluster, deviceFrames / 64));
    }

    public boolean enabled() {
        return policy != null;
    }
}
