package dev.hmm.policy.evict;

import static org.assertj.core.api.Assertions.assertThat;

import dev.hmm.mm.AccessType;
import dev.hmm.mm.AddressSpace;
import dev.hmm.mm.DataPlane;
import dev.hmm.mm.Device;
import dev.hmm.mm.EngineConfig;
import dev.hmm.mm.EvictionConfig;
import dev.hmm.mm.FaultServiceConfig;
import dev.hmm.mm.HmmEngine;
import dev.hmm.mm.MemoryType;
import dev.hmm.mm.Prot;
import dev.hmm.mm.TestDriver;
import dev.hmm.policy.PolicyRegistry;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * With eviction {@code lru}, no prefetch and on-demand eviction, the device faults of a single-threaded, device-only
 * access sequence equal the misses of a textbook LRU cache of as many pages as the device holds.
 */
class LruExactnessTest {
    static final int PAGE = 4096;
    static final int CAPACITY = 64;

    /** A textbook LRU cache: a LinkedHashMap in access order, evicting its eldest entry when full. */
    static long textbookMisses(long[] pages, int capacity) {
        Map<Long, Boolean> cache = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Long, Boolean> e) {
                return size() > capacity;
            }
        };
        long misses = 0;
        for (long p : pages) {
            if (cache.get(p) == null) {
                misses++;
                cache.put(p, Boolean.TRUE);
            }
        }
        return misses;
    }

    static Stream<Arguments> shapes() {
        return Stream.of(
                Arguments.of("loop smaller than the device", loop(48, 20)),
                Arguments.of("loop exactly the device", loop(CAPACITY, 10)),
                Arguments.of("loop one larger than the device (LRU's worst case)", loop(CAPACITY + 1, 10)),
                Arguments.of("loop twice the device", loop(2 * CAPACITY, 8)),
                Arguments.of("uniform random over 2x", random(2 * CAPACITY, 3000, 1)),
                Arguments.of("uniform random over 8x", random(8 * CAPACITY, 3000, 2)),
                Arguments.of("zipf-like skew", zipf(10 * CAPACITY, 4000, 3)),
                Arguments.of("strided", strided(5 * CAPACITY, 7, 3000)),
                Arguments.of("shifting working sets", phases(4)),
                Arguments.of("hot set plus scans", hotAndScan(5)),
                Arguments.of("repeated short bursts", bursts(6)));
    }

    static long[] loop(int n, int rounds) {
        long[] s = new long[n * rounds];
        for (int i = 0; i < s.length; i++) {
            s[i] = i % n;
        }
        return s;
    }

    static long[] random(int span, int len, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        long[] s = new long[len];
        for (int i = 0; i < len; i++) {
            s[i] = r.nextInt(span);
        }
        return s;
    }

    static long[] zipf(int span, int len, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        long[] s = new long[len];
        for (int i = 0; i < len; i++) {
            double u = r.nextDouble();
            s[i] = (long) (span * Math.pow(u, 3)); // heavy head
        }
        return s;
    }

    static long[] strided(int span, int stride, int len) {
        long[] s = new long[len];
        for (int i = 0; i < len; i++) {
            s[i] = ((long) i * stride) % span;
        }
        return s;
    }

    static long[] phases(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        long[] s = new long[4000];
        for (int i = 0; i < s.length; i++) {
            int phase = i / 800;
            s[i] = phase * 40L + r.nextInt(CAPACITY - 10);
        }
        return s;
    }

    static long[] hotAndScan(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        long[] s = new long[4000];
        long scan = 1000;
        for (int i = 0; i < s.length; i++) {
            s[i] = r.nextInt(4) == 0 ? scan++ % 600 + 100 : r.nextInt(20);
        }
        return s;
    }

    static long[] bursts(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        long[] s = new long[4000];
        for (int i = 0; i < s.length; ) {
            long base = r.nextInt(6 * CAPACITY);
            int len = 1 + r.nextInt(12);
            for (int k = 0; k < len && i < s.length; k++) {
                s[i++] = base + r.nextInt(3);
            }
        }
        return s;
    }

    static Stream<Arguments> shapesInBothPlanes() {
        return shapes().flatMap(a -> Stream.of(DataPlane.values())
                .map(p -> Arguments.of(a.get()[0], a.get()[1], p)));
    }

    @ParameterizedTest(name = "{0} ({2})")
    @MethodSource("shapesInBothPlanes")
    void device_faults_equal_textbook_lru_misses(String shape, long[] sequence, DataPlane plane) {
        long span = java.util.Arrays.stream(sequence).max().orElse(0) + 1;
        EngineConfig c = new EngineConfig(PAGE, plane, (span + 16) * PAGE, 512);
        try (HmmEngine engine = HmmEngine.create(c)) {
            Device dev = engine.attachDevice(new TestDriver("gpu0", MemoryType.DEVICE_PRIVATE,
                    (long) CAPACITY * PAGE, 1), FaultServiceConfig.defaults(),
                    EvictionConfig.onDemand(PolicyRegistry.eviction("lru")).withReclaimCluster(1));
            AddressSpace mm = engine.createAddressSpace();
            long va = mm.mmap(span * PAGE, Prot.READ_WRITE);
            SplittableRandom kinds = new SplittableRandom(shape.hashCode());
            for (long p : sequence) {
                dev.touch(mm, va + p * PAGE, 1, kinds.nextBoolean() ? AccessType.READ : AccessType.WRITE);
            }
            long misses = textbookMisses(sequence, CAPACITY);
            assertThat(engine.stats().deviceFaults()).as(shape).isEqualTo(misses);
            assertThat(engine.stats().evictions()).isEqualTo(Math.max(0, misses - CAPACITY));
            assertThat(engine.stats().lruLostHints()).isZero();
            assertThat(engine.check()).isEmpty();
        }
    }

    // the comparison can fail: FIFO, run through the same engine, differs from LRU on sequences with reuse
    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void fifo_is_not_mistaken_for_lru(String shape, long[] sequence) {
        long span = java.util.Arrays.stream(sequence).max().orElse(0) + 1;
        EngineConfig c = new EngineConfig(PAGE, DataPlane.METADATA, (span + 16) * PAGE, 512);
        try (HmmEngine engine = HmmEngine.create(c)) {
            Device dev = engine.attachDevice(new TestDriver("gpu0", MemoryType.DEVICE_PRIVATE,
                    (long) CAPACITY * PAGE, 1), FaultServiceConfig.defaults(),
                    EvictionConfig.onDemand(PolicyRegistry.eviction("fifo")).withReclaimCluster(1));
            AddressSpace mm = engine.createAddressSpace();
            long va = mm.mmap(span * PAGE, Prot.READ_WRITE);
            for (long p : sequence) {
                dev.touch(mm, va + p * PAGE, 1, AccessType.READ);
            }
            long lru = textbookMisses(sequence, CAPACITY);
            long fifo = fifoMisses(sequence, CAPACITY);
            assertThat(engine.stats().deviceFaults()).isEqualTo(fifo);
            if (fifo != lru) {
                assertThat(engine.stats().deviceFaults()).isNotEqualTo(lru);
            }
        }
    }

    static long fifoMisses(long[] pages, int capacity) {
        java.util.ArrayDeque<Long> q = new java.util.ArrayDeque<>();
        java.util.Set<Long> in = new java.util.HashSet<>();
        long misses = 0;
        for (long p : pages) {
            if (!in.contains(p)) {
                misses++;
                if (q.size() == capacity) {
                    in.remove(q.removeFirst());
                }
                q.addLast(p);
                in.add(p);
            }
        }
        return misses;
    }
}
