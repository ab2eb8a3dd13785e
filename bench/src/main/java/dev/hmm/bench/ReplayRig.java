package dev.hmm.bench;

import dev.hmm.mm.AccessType;
import dev.hmm.mm.AddressSpace;
import dev.hmm.mm.DataPlane;
import dev.hmm.mm.Device;
import dev.hmm.mm.EngineConfig;
import dev.hmm.mm.EvictionConfig;
import dev.hmm.mm.FaultServiceConfig;
import dev.hmm.mm.HmmEngine;
import dev.hmm.mm.Prot;
import dev.hmm.policy.PolicyRegistry;
import java.util.SplittableRandom;

/**
 * Replay of a page-access trace by one device thread, METADATA plane (by default), device memory oversubscribed,
 * eviction by the named policy on demand: the hit path (mirror lookup + LRU hint) and the miss path (fault, batch, migrate, evict)
 * as a trace replay drives them. The trace is {@link #hotCold}: most accesses go to a hot set smaller than the device,
 * the rest anywhere in the footprint. The reference is a textbook LRU cache of as many pages as the device holds,
 * replaying the same trace ({@link #referenceLru}): the cost of the policy decision alone. With {@code lru} and a
 * reclaim cluster of 1 its misses equal the engine's device faults exactly (the exactness property of the LRU
 * surrogate); with the default cluster ({@link EvictionConfig#SWAP_CLUSTER_MAX}) the engine evicts a few pages ahead
 * of demand and takes about 0.2% more faults.
 */
public final class ReplayRig implements AutoCloseable {
    public static final int PAGE = EngineConfig.PAGE_4K;
    private final HmmEngine engine;
    private final Device device;
    private final AddressSpace mm;
    private final long va;
    private final int[] trace;
    private final int devicePages;
    private final int footprintPages;
    // reference LRU: doubly-linked int arrays over page numbers, head = most recent
    private final int[] prev;
    private final int[] next;
    private final boolean[] cached;

    public ReplayRig(String policy, int devicePages, int footprintPages, int traceLength, long seed) {
        this(policy, devicePages, footprintPages, traceLength, seed, true);
    }

    /**
     * As above; {@code combining} false makes every fault go through the device's servicing thread (a hand-off and a
     * replay per miss) instead of the replaying thread servicing it itself ({@code FaultServiceConfig}).
     */
    public ReplayRig(String policy, int devicePages, int footprintPages, int traceLength, long seed,
            boolean combining) {
        this(policy, devicePages, footprintPages, traceLength, seed, combining, EvictionConfig.SWAP_CLUSTER_MAX);
    }

    /** As above, with direct reclaim freeing at least {@code reclaimCluster} frames ({@link EvictionConfig}). */
    public ReplayRig(String policy, int devicePages, int footprintPages, int traceLength, long seed,
            boolean combining, int reclaimCluster) {
        this(policy, devicePages, footprintPages, traceLength, seed, combining, reclaimCluster, DeviceSource.SIM,
                DataPlane.METADATA);
    }

    /**
     * As above, on the device {@code source} opens with pages of {@code plane} ({@link DataPlane#REAL} on a GPU, so
     * that every miss and eviction moves its page's bytes).
     */
    public ReplayRig(String policy, int devicePages, int footprintPages, int traceLength, long seed,
            boolean combining, int reclaimCluster, DeviceSource source, DataPlane plane) {
        this.devicePages = devicePages;
        this.footprintPages = footprintPages;
        long footprint = (long) footprintPages * PAGE;
        engine = HmmEngine.create(EngineConfig.of(footprint).withDataPlane(plane));
        FaultServiceConfig faults = FaultServiceConfig.defaults().withFaultingThreadServices(combining);
        try {
            device = DeviceSource.attach(engine, source.open("gpu0", (long) devicePages * PAGE, 1), faults,
                    EvictionConfig.onDemand(PolicyRegistry.eviction(policy)).withReclaimCluster(reclaimCluster));
        } catch (RuntimeException e) {
            engine.close();
            throw e;
        }
        mm = engine.createAddressSpace();
        va = mm.mmap(footprint, Prot.READ_WRITE);
        mm.touch(va, footprint, AccessType.WRITE);
        trace = hotCold(footprintPages, devicePages / 2, 0.9, traceLength, seed);
        prev = new int[footprintPages + 1];
        next = new int[footprintPages + 1];
        cached = new boolean[footprintPages];
    }

    /**
     * {@code n} page numbers: with probability {@code hotFraction} uniform over {@code [0, hot)}, else uniform over the
     * footprint.
     */
    public static int[] hotCold(int footprint, int hot, double hotFraction, int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = r.nextDouble() < hotFraction ? r.nextInt(hot) : r.nextInt(footprint);
        }
        return t;
    }

    public int length() {
        return trace.length;
    }

    /** Replays the trace through the device. Returns the device faults it took. */
    public long replay() {
        long before = engine.stats().deviceFaults();
        for (int p : trace) {
            device.touch(mm, va + (long) p * PAGE, PAGE, AccessType.READ);
        }
        return engine.stats().deviceFaults() - before;
    }

    /** Replays the trace through a textbook LRU of {@code devicePages} pages. Returns its misses. */
    public long referenceLru() {
        int sentinel = footprintPages;
        java.util.Arrays.fill(cached, false);
        prev[sentinel] = sentinel;
        next[sentinel] = sentinel;
        int size = 0;
        long misses = 0;
        for (int p : trace) {
            if (cached[p]) {
                next[prev[p]] = next[p]; // unlink
                prev[next[p]] = prev[p];
            } else {
                misses++;
                if (size == devicePages) {
                    int victim = prev[sentinel]; // least recent
                    next[prev[victim]] = sentinel;
                    prev[sentinel] = prev[victim];
                    cached[victim] = false;
                } else {
                    size++;
                }
                cached[p] = true;
            }
            next[p] = next[sentinel]; // push front
            prev[p] = sentinel;
            prev[next[sentinel]] = p;
            next[sentinel] = p;
        }
        return misses;
    }

    public HmmEngine engine() {
        return engine;
    }

    @Override
    public void close() {
        engine.close();
    }
}
