package dev.hmm.mm;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * One batch of page copies handed to a {@link CopyEngine} in one call: every page goes from the same source node's
 * store to the same destination node's store (the DMA descriptors of one copy-engine submission). A page whose source
 * index is {@link #FILL} is zero-filled instead (populate-on-migrate of a hole). Reused across calls: no allocation
 * per page.
 *
 * <p>Failures are per page: the engine marks the pages it could not copy ({@link #fail}), and {@code migrate_vma}
 * rolls back exactly those.
 */
public final class CopyBatch {
    private static final VarHandle FAILED =
            MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle FAILURES;

    static {
        try {
            FAILURES = MethodHandles.lookup().findVarHandle(CopyBatch.class, "failures", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Source index meaning "no source page: zero-fill the destination". */
    public static final int FILL = -1;

    private PageStore source;
    private PageStore destination;
    private final int[] src;
    private final int[] dst;
    private final long[] failed;
    private int count;
    private int failures;

    public CopyBatch(int capacity) {
        this.src = new int[capacity];
        this.dst = new int[capacity];
        this.failed = new long[(capacity + 63) >>> 6];
    }

    /** Empties the batch and sets its stores. */
    public void reset(PageStore source, PageStore destination) {
        this.source = source;
        this.destination = destination;
        if (count > 0 || failures > 0) {
            Arrays.fill(failed, 0, (count + 63) >>> 6, 0L);
        }
        count = 0;
        failures = 0;
    }

    /** Adds a page: frame {@code srcIndex} of the source store (or {@link #FILL}) to frame {@code dstIndex}. */
    public void add(int srcIndex, int dstIndex) {
        src[count] = srcIndex;
        dst[count] = dstIndex;
        count++;
    }

    public int capacity() {
        return src.length;
    }

    public int count() {
        return count;
    }

    public PageStore source() {
        return source;
    }

    public PageStore destination() {
        return destination;
    }

    public int pageSize() {
        return destination.pageSize();
    }

    public int srcIndex(int i) {
        return src[i];
    }

    public int dstIndex(int i) {
        return dst[i];
    }

    public boolean isFill(int i) {
        return src[i] == FILL;
    }

    /** Whether the batch moves bytes: both stores hold data (false on the METADATA plane). */
    public boolean hasData() {
        return source.hasData() && destination.hasData();
    }

    /** Bytes this batch moves. */
    public long bytes() {
        return (long) count * pageSize();
    }

    /** Marks page {@code i} failed. Thread-safe: copy stripes running on several threads may call it. */
    public void fail(int i) {
        long bit = 1L << (i & 63);
        long prev = (long) FAILED.getAndBitwiseOr(failed, i >>> 6, bit);
        if ((prev & bit) == 0) {
            FAILURES.getAndAdd(this, 1);
        }
    }

    public boolean failed(int i) {
        return ((long) FAILED.getVolatile(failed, i >>> 6) & (1L << (i & 63))) != 0;
    }

    public int failures() {
        return (int) FAILURES.getVolatile(this);
    }
}
