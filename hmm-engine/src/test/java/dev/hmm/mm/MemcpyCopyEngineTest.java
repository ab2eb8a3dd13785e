package dev.hmm.mm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The CPU copy engine on its own: stripes of whole pages, pieces of huge pages, zero-fill, injected failures (the
 * injector asked once per page), in both modes and on 1 to 4 copy threads, every destination byte checked.
 */
class MemcpyCopyEngineTest {

    @Test
    void piecesOnlyWhenPagesAreFewerThanStripes() {
        assertEquals(0, MemcpyCopyEngine.pieceShift(512, 2));
        assertEquals(0, MemcpyCopyEngine.pieceShift(2, 2));
        assertEquals(1, MemcpyCopyEngine.pieceShift(1, 2));
        assertEquals(2, MemcpyCopyEngine.pieceShift(1, 3)); // 3 stripes want 4 pieces: pieces are a power of two
        assertEquals(2, MemcpyCopyEngine.pieceShift(1, 4));
        assertEquals(1, MemcpyCopyEngine.pieceShift(3, 4));
        assertEquals(4, MemcpyCopyEngine.pieceShift(1, 16));
    }

    @ParameterizedTest(name = "page {0}, {1} pages, {2} threads, async {3}")
    @CsvSource({
        "4096, 1, 1, false", "4096, 700, 1, false", "4096, 700, 2, false", "4096, 700, 3, true",
        "4096, 97, 4, false", "4096, 700, 4, true",
        "65536, 1, 2, false", "65536, 5, 2, true", "65536, 40, 3, false", "65536, 40, 2, true",
        "2097152, 1, 1, false", "2097152, 1, 2, false", "2097152, 1, 2, true", "2097152, 1, 3, false",
        "2097152, 1, 4, true", "2097152, 3, 4, false", "2097152, 3, 2, true", "2097152, 2, 4, true"
    })
    void everyByteArrivesAndEveryInjectedFailureIsReported(int pageSize, int pages, int threads, boolean async) {
        SplittableRandom rnd = new SplittableRandom(pageSize * 31L + pages * 7L + threads + (async ? 1000 : 0));
        int frames = pages + 3;
        try (PageStore src = PageStore.offHeap(frames, pageSize);
                PageStore dst = PageStore.offHeap(frames, pageSize)) {
            fillRandom(src.memory(), rnd);
            for (int round = 0; round < 3; round++) {
                fillRandom(dst.memory(), rnd);
                MemorySegment before = MemorySegment.ofArray(dst.memory().toArray(ValueLayout.JAVA_BYTE));
                // pages [tail, pages) form one run contiguous in both stores (one memcpy), onto frames 3..; the
                // others go between shuffled frames, a tenth of them zero-filled, onto the frames that run leaves
                int tail = rnd.nextInt(pages);
                int runLength = pages - tail;
                int[] srcFrames = shuffledFrames(frames, rnd);
                int[] freeDst = new int[frames - runLength];
                for (int f = 0, k = 0; f < frames; f++) {
                    if (f < 3 || f >= 3 + runLength) {
                        freeDst[k++] = f;
                    }
                }
                shuffle(freeDst, rnd);
                CopyBatch batch = new CopyBatch(pages);
                batch.reset(src, dst);
                for (int i = 0; i < pages; i++) {
                    if (i >= tail) {
                        batch.add(i - tail, 3 + i - tail);
                    } else {
                        batch.add(rnd.nextInt(10) == 0 ? CopyBatch.FILL : srcFrames[i], freeDst[i]);
                    }
                }
                ConcurrentHashMap<Integer, AtomicInteger> asked = new ConcurrentHashMap<>();
                boolean[] chosen = new boolean[pages];
                for (int i = 0; i < pages; i++) {
                    chosen[i] = round > 0 && rnd.nextInt(5) == 0;
                }
                try (MemcpyCopyEngine engine = engine(threads, async, (seq, i, s, d) -> {
                    asked.computeIfAbsent(i, k -> new AtomicInteger()).incrementAndGet();
                    return chosen[i];
                })) {
                    assertEquals(async, engine.asynchronous());
                    if (async) {
                        engine.submit(batch).await();
                    } else {
                        engine.copy(batch);
                    }
                }
                int expectedFailures = 0;
                for (int i = 0; i < pages; i++) {
                    assertEquals(1, asked.get(i).get(), "the injector is asked once per page: page " + i);
                    assertEquals(chosen[i], batch.failed(i), "page " + i + " failed");
                    if (chosen[i]) {
                        expectedFailures++;
                        continue; // rollback discards what a failed page's destination holds
                    }
                    long d = (long) batch.dstIndex(i) * pageSize;
                    MemorySegment got = dst.memory().asSlice(d, pageSize);
                    long mismatch = batch.isFill(i)
                            ? zeroes(pageSize).mismatch(got)
                            : src.memory().asSlice((long) batch.srcIndex(i) * pageSize, pageSize).mismatch(got);
                    assertEquals(-1, mismatch, "page " + i + " (frame " + batch.srcIndex(i) + " -> "
                            + batch.dstIndex(i) + ") differs at byte " + mismatch);
                }
                assertEquals(expectedFailures, batch.failures());
                for (int f = 0; f < frames; f++) {
                    if (!isDestination(batch, f)) {
                        long o = (long) f * pageSize;
                        assertEquals(-1, before.asSlice(o, pageSize).mismatch(dst.memory().asSlice(o, pageSize)),
                                "frame " + f + " is no destination and must be left alone");
                    }
                }
            }
        }
    }

    /**
     * One 2 MiB page on two copy threads moves on both: the thread copying the first half, held in the injector,
     * sees the second half arrive from the other thread. A page-granular engine would hold the only stripe there and
     * the second half would never arrive.
     */
    @ParameterizedTest(name = "async {0}")
    @CsvSource({"false", "true"})
    void oneHugePageMovesOnTwoThreads(boolean async) {
        int ps = EngineConfig.PAGE_2M;
        try (PageStore src = PageStore.offHeap(1, ps); PageStore dst = PageStore.offHeap(1, ps)) {
            fillRandom(src.memory(), new SplittableRandom(7));
            MemorySegment secondHalfSrc = src.memory().asSlice(ps / 2, ps / 2);
            MemorySegment secondHalfDst = dst.memory().asSlice(ps / 2, ps / 2);
            boolean[] sawOtherHalf = new boolean[1];
            CopyFaultInjector waitForOtherHalf = (seq, i, s, d) -> {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (System.nanoTime() < deadline) {
                    if (secondHalfSrc.mismatch(secondHalfDst) == -1) {
                        sawOtherHalf[0] = true;
                        return false;
                    }
                    Thread.onSpinWait();
                }
                return false;
            };
            try (MemcpyCopyEngine engine = engine(2, async, waitForOtherHalf)) {
                CopyBatch batch = new CopyBatch(1);
                batch.reset(src, dst);
                batch.add(0, 0);
                if (async) {
                    engine.submit(batch).await();
                } else {
                    engine.copy(batch);
                }
                assertEquals(0, batch.failures());
            }
            assertTrue(sawOtherHalf[0], "the second half of the page arrived while the first was held");
            assertEquals(-1, src.memory().mismatch(dst.memory()));
        }
    }

    private static MemcpyCopyEngine engine(int threads, boolean async, CopyFaultInjector injector) {
        return async
                ? MemcpyCopyEngine.dedicated("test", threads, injector)
                : new MemcpyCopyEngine("test", threads, injector);
    }

    private static boolean isDestination(CopyBatch batch, int frame) {
        for (int i = 0; i < batch.count(); i++) {
            if (batch.dstIndex(i) == frame) {
                return true;
            }
        }
        return false;
    }

    private static int[] shuffledFrames(int frames, SplittableRandom rnd) {
        int[] a = new int[frames];
        for (int i = 0; i < frames; i++) {
            a[i] = i;
        }
        shuffle(a, rnd);
        return a;
    }

    private static void shuffle(int[] a, SplittableRandom rnd) {
        for (int i = a.length - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    }

    private static void fillRandom(MemorySegment m, SplittableRandom rnd) {
        for (long o = 0; o < m.byteSize(); o += 8) {
            m.set(ValueLayout.JAVA_LONG_UNALIGNED, o, rnd.nextLong());
        }
    }

    private static MemorySegment zeroes(int bytes) {
        return MemorySegment.ofArray(new byte[bytes]);
    }
}
