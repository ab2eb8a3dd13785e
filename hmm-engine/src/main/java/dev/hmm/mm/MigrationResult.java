package dev.hmm.mm;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The outcome of one migration request over a range: a {@link MigrateResult} per page and the counts per result.
 * One byte per page.
 */
public final class MigrationResult {
    private final long start;
    private final int pageShift;
    private final byte[] perPage;
    private final long[] counts = new long[MigrateResult.values().length];

    MigrationResult(long start, int pageShift, int pages) {
        this.start = start;
        this.pageShift = pageShift;
        this.perPage = new byte[pages];
        java.util.Arrays.fill(perPage, MigrateVma.UNDECIDED);
    }

    void set(int page, MigrateResult r) {
        byte old = perPage[page];
        if (old != MigrateVma.UNDECIDED) {
            counts[old]--;
        }
        perPage[page] = (byte) r.ordinal();
        counts[r.ordinal()]++;
    }

    MigrateResult get(int page) {
        byte b = perPage[page];
        return b == MigrateVma.UNDECIDED ? null : MigrateResult.of(b);
    }

    /** Pages in the range. */
    public int pages() {
        return perPage.length;
    }

    /** The result of page {@code i}, or null if it was not part of the request (outside a mask). */
    public MigrateResult resultOrNull(int i) {
        return get(i);
    }

    /** The result of page {@code i} of the range (0-based). */
    public MigrateResult result(int i) {
        MigrateResult r = get(i);
        if (r == null) {
            throw new IllegalStateException("page " + i + " has no result");
        }
        return r;
    }

    /** The result of the page holding {@code va}. */
    public MigrateResult resultAt(long va) {
        return result((int) ((va - start) >>> pageShift));
    }

    public long count(MigrateResult r) {
        return counts[r.ordinal()];
    }

    public long migrated() {
        return count(MigrateResult.MIGRATED);
    }

    /** Pages that did not move, by reason key (reasons with a zero count left out). */
    public Map<String, Long> failures() {
        Map<String, Long> m = new LinkedHashMap<>();
        for (MigrateResult r : MigrateResult.values()) {
            if (r != MigrateResult.MIGRATED && counts[r.ordinal()] > 0) {
                m.put(r.key(), counts[r.ordinal()]);
            }
        }
        return m;
    }

    @Override
    public String toString() {
        return "MigrationResult{pages=" + pages() + ", migrated=" + migrated() + ", failures=" + failures() + "}";
    }
}
