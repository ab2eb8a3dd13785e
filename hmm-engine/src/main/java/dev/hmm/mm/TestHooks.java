package dev.hmm.mm;

/**
 * Deliberate faults a test can switch on in one engine, to show that the stress checks can fail. Per engine (no
 * static state); package-private so only tests in this package reach it. Off by default: each hook costs one plain
 * field read where it sits.
 */
final class TestHooks {
    /**
     * Replaces the CAS that installs a migration entry in {@link MigrateVma} collect by a check-then-store with a
     * yield in between (a broken CAS): two migrators can both "win" the same page.
     */
    volatile boolean brokenCollectCas;

    /**
     * Runs on the fault-servicing thread between the {@code hmm_range_fault} walk and taking the mirror lock: the
     * window in which a concurrent invalidation must make the mapping retry. Null when unused.
     */
    volatile Runnable beforeMirrorLock;

    /**
     * Runs in {@link MigrateVma} collect between reading a page's entry and reading its frame's reverse map: the
     * window in which the frame can be dropped and reused (ABA). Null when unused.
     */
    volatile Runnable beforeCollectRmap;

    /** The broken CAS: read, compare, yield, store. Not atomic, on purpose. */
    static boolean brokenCasPte(long[] leaf, int slot, long expect, long update) {
        if (PageTable.laPte(leaf, slot) != expect) {
            return false;
        }
        Thread.yield();
        PageTable.storePteForTest(leaf, slot, update);
        return true;
    }
}
