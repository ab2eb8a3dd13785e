package dev.hmm.policy;

/**
 * What an {@link EvictionPolicy} is given about one device: its frame count, the intrusive link arrays that stand in
 * for {@code page->lru} (ZONE_DEVICE pages cannot use theirs), counted in the engine's 24 bytes per frame, and a
 * look-up of the virtual page a frame holds (for policies that work on larger units, such as 2 MiB blocks).
 */
public interface EvictionContext {

    /** Frames of the device (frame indexes are {@code 0 .. frames()-1}). */
    int frames();

    /** The device's name. */
    String device();

    /** Per-frame "previous" links, free for the policy to use (all -1 at start is not guaranteed: initialise). */
    int[] prev();

    /** Per-frame "next" links, free for the policy to use. */
    int[] next();

    /**
     * The virtual page number held by {@code frame} (its reverse map), or -1 if it holds none now. May be stale by the
     * time it is used: the engine validates every victim before evicting it.
     */
    long pageOf(int frame);
}
