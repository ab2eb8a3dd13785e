package dev.hmm.mm;

/**
 * Decides which pages a copy engine fails, for tests and for the {@code FAIL_ALLOC}-style experiments of
 * {@code lib/test_hmm.c}. Called once per page; must be thread-safe.
 */
@FunctionalInterface
public interface CopyFaultInjector {
    CopyFaultInjector NONE = (batchSeq, i, srcIndex, dstIndex) -> false;

    /**
     * @param batchSeq sequence number of the batch in this engine (0, 1, ...)
     * @param i index of the page in the batch
     * @param srcIndex source frame index, or {@link CopyBatch#FILL}
     * @param dstIndex destination frame index
     * @return true to fail this page (its destination is left partly written)
     */
    boolean shouldFail(long batchSeq, int i, int srcIndex, int dstIndex);
}
