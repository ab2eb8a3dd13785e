package dev.hmm.mm;

/**
 * When faulting accessors are replayed (woken to retry their access), as UVM's {@code uvm_perf_fault_replay_policy}.
 */
public enum ReplayPolicy {
    /** {@code UVM_PERF_FAULT_REPLAY_POLICY_BLOCK}: after each 2 MiB block of a batch is serviced. */
    BLOCK,
    /** {@code UVM_PERF_FAULT_REPLAY_POLICY_BATCH}: after each batch. */
    BATCH,
    /**
     * {@code UVM_PERF_FAULT_REPLAY_POLICY_BATCH_FLUSH} (the default): after each batch, first flush the buffer: every
     * pending fault the batch already resolved is replayed as a duplicate, the others are carried into the next batch.
     */
    BATCH_FLUSH,
    /** {@code UVM_PERF_FAULT_REPLAY_POLICY_ONCE}: one replay after all the batches of a servicing pass. */
    ONCE
}
