package dev.hmm.bench;

import java.util.Arrays;
import java.util.function.LongSupplier;

/**
 * The timing loop of {@code ./hmm bench} (JMH does this properly for the benchmark jar; this is the under-a-minute
 * version): a warm-up, then slices alternating between the engine and its reference so both see the same machine
 * state, and the median rate of each. Units are whatever the operation returns (pages, bytes, faults, accesses).
 */
public final class Measure {
    private Measure() {
    }

    /** Median units per second of {@code engine} and {@code reference}, in that order (0.3 s of warm-up). */
    public static double[] paired(Op engine, Op reference, double seconds, int slices) {
        return paired(engine, reference, seconds, slices, 0.3);
    }

    /**
     * As above, with {@code warmupSeconds} of warm-up for the engine (at least one slice) and a third of it for the
     * reference.
     */
    public static double[] paired(Op engine, Op reference, double seconds, int slices, double warmupSeconds) {
        long sliceNanos = (long) (seconds * 1e9 / slices);
        long warmup = Math.max(sliceNanos, (long) (warmupSeconds * 1e9));
        run(engine, warmup); // warm-up: JIT, caches, allocator
        run(reference, warmup / 3);
        double[] e = new double[slices];
        double[] r = new double[slices];
        for (int i = 0; i < slices; i++) {
            e[i] = run(engine, sliceNanos);
            r[i] = run(reference, sliceNanos);
        }
        return new double[] {median(e), median(r)};
    }

    /** Runs {@code op} (its untimed set-up before each call) for at least {@code nanos} of timed work. */
    static double run(Op op, long nanos) {
        long units = 0;
        long timed = 0;
        long calls = 0;
        long deadline = System.nanoTime() + 20 * nanos; // bounds the untimed set-up too
        while (timed < nanos || calls == 0) {
            op.setUp();
            long t0 = System.nanoTime();
            units += op.run();
            timed += System.nanoTime() - t0;
            calls++;
            if (System.nanoTime() > deadline) {
                break;
            }
        }
        return units / (timed / 1e9);
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** A measured operation: {@link #run} returns the units it did; {@link #setUp} is not timed. */
    public interface Op {
        long run();

        default void setUp() {
        }

        static Op of(LongSupplier body) {
            return body::getAsLong;
        }

        static Op of(Runnable setUp, LongSupplier body) {
            return new Op() {
                @Override
                public long run() {
                    return body.getAsLong();
                }

                @Override
                public void setUp() {
                    setUp.run();
                }
            };
        }
    }
}
