package dev.hmm.mm;

/**
 * A device's copy engine (DMA engine / SDMA / the CUDA copy engines): moves a whole {@link CopyBatch} between two
 * node stores in one call, never page by page. {@link #copy} returns when every page is copied or marked failed;
 * failed pages are rolled back by {@code migrate_vma}, the others complete.
 *
 * <h2>Asynchronous engines</h2>
 * An engine that copies on hardware (or threads) of its own, as a GPU's copy engines do, says so with
 * {@link #asynchronous()}: its {@link #submit} returns at once and the copy runs while the caller goes on. The
 * engine's {@code migrate_vma} then pipelines: it sets up and submits the next chunk's copy before it finalizes the
 * current one, as UVM pushes a VA block's copy to a copy engine and tracks it ({@code uvm_tracker_t}) while the CPU
 * moves on. A synchronous engine copies inside {@code submit}.
 */
public interface CopyEngine extends AutoCloseable {

    /** Copies (or zero-fills) every page of {@code batch}; marks the pages it could not copy with {@link CopyBatch#fail}. */
    void copy(CopyBatch batch);

    /**
     * Starts copying {@code batch} and returns its handle; the batch must not be touched until
     * {@link Submission#await} has returned. The default copies before it returns.
     */
    default Submission submit(CopyBatch batch) {
        copy(batch);
        return Submission.DONE;
    }

    /** Whether {@link #submit} returns before the copy is done (the copy runs beside the caller). */
    default boolean asynchronous() {
        return false;
    }

    /** Threads this engine copies with: the caller included for a synchronous engine, its own for an asynchronous one. */
    int threads();

    @Override
    default void close() {
    }

    /** A submitted copy batch (a fence on a copy engine's work). */
    interface Submission {
        /** A batch copied before {@link #submit} returned. */
        Submission DONE = () -> {
        };

        /** Returns when every page of the batch is copied or marked failed; never throws for a failed page. */
        void await();
    }
}
