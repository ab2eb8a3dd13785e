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
 */
public record EvictionConfig(EvictionPolicy.Factory policy, long lowWatermarkFrames, int batch) {
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
        if (policy == null && lowWatermarkFrames > 0) {
            throw new IllegalArgumentException("an eviction watermark needs an eviction policy");
        }
    }

    /** Evict with {@code policy} on demand only, 64 victims per batch. */
    public static EvictionConfig onDemand(EvictionPolicy.Factory policy) {
        return new EvictionConfig(policy, 0, 64);
    }

    public EvictionConfig withLowWatermark(long frames) {
        return new EvictionConfig(policy, frames, batch);
    }

    public boolean enabled() {
        return policy != null;
    }
}
