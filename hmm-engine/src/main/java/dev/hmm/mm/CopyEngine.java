package dev.hmm.mm;

/**
 * A device's copy engine (DMA engine / SDMA / the CUDA copy engines): moves a whole {@link CopyBatch} between two
 * node stores in one call, never page by page. The call returns when every page is copied or marked failed; failed
 * pages are rolled back by {@code migrate_vma}, the others complete.
 */
public interface CopyEngine extends AutoCloseable {

    /** Copies (or zero-fills) every page of {@code batch}; marks the pages it could not copy with {@link CopyBatch#fail}. */
    void copy(CopyBatch batch);

    /** Threads this engine copies with (the caller included). */
    int threads();

    @Override
    default void close() {
    }
}
