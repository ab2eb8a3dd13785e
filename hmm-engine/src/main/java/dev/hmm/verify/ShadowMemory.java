package dev.hmm.verify;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A shadow copy of {@code [base, base+length)}: every write made through the engine is also recorded here, and every
 * read is compared with it, so any byte the engine loses or corrupts (a migration that copied too early, a write to a
 * freed frame, a lost fault) shows up as a mismatch.
 *
 * <h2>Page claims</h2>
 * "The last write to a byte" is only defined if reads and writes of a page are ordered. Workloads claim the pages of
 * an access first ({@link #tryClaim}): one writer or many readers per page, never both, without waiting (a failed
 * claim is released and the access skipped, so claims cannot deadlock). Claims serialise the workload's own accesses
 * only; the engine's migrations, faults and evictions of those pages run unrestricted.
 * <pre>
 *  claim word per page: 0 free, n &gt; 0 readers, -1 writer; changed by CAS only
 * </pre>
 */
public final class ShadowMemory implements AutoCloseable {
    private static final VarHandle CLAIM = MethodHandles.arrayElementVarHandle(int[].class);

    private final long base;
    private final long length;
    private final int pageShift;
    private final Arena arena;
    private final MemorySegment shadow;
    private final int[] claims;

    /** A zero-filled shadow of {@code length} bytes at {@code base} (anonymous memory starts zeroed). */
    public ShadowMemory(long base, long length, int pageSize) {
        if (Integer.bitCount(pageSize) != 1 || (base & (pageSize - 1)) != 0 || length <= 0) {
            throw new IllegalArgumentException("shadow needs a page-aligned base and positive length: base=" + base
                    + " length=" + length + " pageSize=" + pageSize);
        }
        this.base = base;
        this.length = length;
        this.pageShift = Integer.numberOfTrailingZeros(pageSize);
        long pages = (length + pageSize - 1) >>> pageShift;
        if (pages > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("shadow of more than 2^31 pages: length=" + length);
        }
        this.arena = Arena.ofShared();
        this.shadow = arena.allocate(length, 8);
        this.claims = new int[(int) pages];
    }

    public long base() {
        return base;
    }

    public long length() {
        return length;
    }

    /**
     * Claims the pages of {@code [va, va+len)} for a read (shared) or a write (exclusive), all or none.
     *
     * @return false if some page is held incompatibly; nothing is held then
     */
    public boolean tryClaim(long va, long len, boolean write) {
        int first = page(va);
        int last = page(va + len - 1);
        for (int p = first; p <= last; p++) {
            if (!claimOne(p, write)) {
                for (int q = first; q < p; q++) {
                    releaseOne(q, write);
                }
                return false;
            }
        }
        return true;
    }

    /** Releases a claim taken by {@link #tryClaim} with the same arguments. */
    public void release(long va, long len, boolean write) {
        for (int p = page(va); p <= page(va + len - 1); p++) {
            releaseOne(p, write);
        }
    }

    private boolean claimOne(int p, boolean write) {
        for (;;) {
            int c = (int) CLAIM.getVolatile(claims, p);
            if (write ? c != 0 : c < 0) {
                return false;
            }
            if (CLAIM.compareAndSet(claims, p, c, write ? -1 : c + 1)) {
                return true;
            }
        }
    }

    private void releaseOne(int p, boolean write) {
        for (;;) {
            int c = (int) CLAIM.getVolatile(claims, p);
            if (CLAIM.compareAndSet(claims, p, c, write ? 0 : c - 1)) {
                return;
            }
        }
    }

    private int page(long va) {
        if (va < base || va >= base + length) {
            throw new IllegalArgumentException(String.format("0x%x outside the shadow [0x%x, 0x%x)", va, base,
                    base + length));
        }
        return (int) ((va - base) >>> pageShift);
    }

    /** Records a write of {@code data} at {@code va} (caller holds the write claim). */
    public void recordWrite(long va, MemorySegment data) {
        page(va);
        MemorySegment.copy(data, 0, shadow, va - base, data.byteSize());
    }

    /**
     * Compares {@code data}, read at {@code va}, with the shadow (caller holds a read claim).
     *
     * @return the number of bytes that differ
     */
    public long compare(long va, MemorySegment data) {
        page(va);
        long off = va - base;
        long mismatch = MemorySegment.mismatch(shadow, off, off + data.byteSize(), data, 0, data.byteSize());
        if (mismatch < 0) {
            return 0;
        }
        long bad = 0;
        for (long i = mismatch; i < data.byteSize(); i++) {
            if (shadow.get(ValueLayout.JAVA_BYTE, off + i) != data.get(ValueLayout.JAVA_BYTE, i)) {
                bad++;
            }
        }
        return bad;
    }

    /** Compares {@code data} with the whole shadow (a final read-back); returns the first differing offset or -1. */
    public long firstMismatch(MemorySegment data) {
        return MemorySegment.mismatch(shadow, 0, length, data, 0, data.byteSize());
    }

    /** The shadow bytes (read-only use). */
    public MemorySegment bytes() {
        return shadow.asReadOnly();
    }

    /**
     * Fills {@code out} with a pattern that identifies the writer: {@code seed} mixed with the offset, so that two
     * writes rarely produce the same bytes and a misplaced page is caught.
     */
    public static void pattern(MemorySegment out, long seed) {
        long x = seed * 0x9E3779B97F4A7C15L + 0x632BE59BD9B4E019L;
        long n = out.byteSize();
        long i = 0;
        for (; i + 8 <= n; i += 8) {
            x ^= x >>> 33;
            x *= 0xFF51AFD7ED558CCDL;
            x ^= x >>> 29;
            out.set(ValueLayout.JAVA_LONG_UNALIGNED, i, x);
        }
        for (; i < n; i++) {
            out.set(ValueLayout.JAVA_BYTE, i, (byte) (x >>> (8 * (i & 7))));
        }
    }

    @Override
    public void close() {
        arena.close();
    }
}
