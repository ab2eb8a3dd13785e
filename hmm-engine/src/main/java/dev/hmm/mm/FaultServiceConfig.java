package dev.hmm.mm;

/**
 * How a device's fault buffer is serviced (UVM's replayable-fault module parameters).
 *
 * @param maxBatch faults fetched and serviced per batch ({@code uvm_perf_fault_batch_count}, default 256)
 * @param replayPolicy when accessors are replayed ({@code uvm_perf_fault_replay_policy}, default BATCH_FLUSH)
 * @param bufferEntries capacity of the fault buffer; producers wait when it is full (rounded up to a power of 2)
 * @param maxBatchesPerPass batches per servicing pass before the ONCE replay ({@code
 *     uvm_perf_fault_max_batches_per_service}, default 20)
 * @param exclusiveAtomics how an atomic fault on a RAM page is served: false migrates it to the device (UVM's default,
 *     {@code uvm_perf_map_remote_on_native_atomics_fault=0}); true keeps it in RAM and makes it device-exclusive
 *     ({@code make_device_exclusive}, as SVM drivers do for system-scope atomics)
 * @param readDuplication a read fault on a page in RAM makes a read-only copy on the device instead of migrating it
 *     (UVM read duplication, {@code cudaMemAdviseSetReadMostly}); the CPU keeps the original, write-protected; the
 *     first write, by anyone, drops the copies; eviction drops a copy without copying it back
 * @param faultingThreadServices an accessor that raises faults while nobody is servicing the buffer services it
 *     itself (combining) instead of handing the faults to the device's servicing thread and waiting for its replay;
 *     batches, policies and counters are the same, only the thread differs. Off: every batch is serviced by the
 *     servicing thread, as UVM's bottom half does (each fault then pays a thread hand-off).
 */
public record FaultServiceConfig(int maxBatch, ReplayPolicy replayPolicy, int bufferEntries, int maxBatchesPerPass,
        boolean exclusiveAtomics, boolean readDuplication, boolean faultingThreadServices) {

    public FaultServiceConfig {
        if (maxBatch < 1 || maxBatch > 1 << 16) {
            throw new IllegalArgumentException("fault batch must be 1..65536 faults: maxBatch=" + maxBatch);
        }
        if (replayPolicy == null) {
            throw new IllegalArgumentException("replay policy must be BLOCK, BATCH, BATCH_FLUSH or ONCE");
        }
        if (bufferEntries < 2 || bufferEntries > 1 << 24) {
            throw new IllegalArgumentException("fault buffer must hold 2..16777216 entries: bufferEntries="
                    + bufferEntries);
        }
        if (maxBatchesPerPass < 1) {
            throw new IllegalArgumentException("batches per pass must be positive: maxBatchesPerPass="
                    + maxBatchesPerPass);
        }
    }

    /**
     * UVM's defaults: batches of 256, batch-and-flush replay, a 4096-entry buffer, 20 batches per pass; a faulting
     * accessor services the buffer when nobody else is.
     */
    public static FaultServiceConfig defaults() {
        return new FaultServiceConfig(256, ReplayPolicy.BATCH_FLUSH, 4096, 20, false, false, true);
    }

    public FaultServiceConfig withMaxBatch(int n) {
        return new FaultServiceConfig(n, replayPolicy, Math.max(bufferEntries, n), maxBatchesPerPass, exclusiveAtomics,
                readDuplication, faultingThreadServices);
    }

    public FaultServiceConfig withReplayPolicy(ReplayPolicy p) {
        return new FaultServiceConfig(maxBatch, p, bufferEntries, maxBatchesPerPass, exclusiveAtomics, readDuplication,
                faultingThreadServices);
    }

    public FaultServiceConfig withBufferEntries(int n) {
        return new FaultServiceConfig(maxBatch, replayPolicy, n, maxBatchesPerPass, exclusiveAtomics, readDuplication,
                faultingThreadServices);
    }

    public FaultServiceConfig withExclusiveAtomics(boolean on) {
        return new FaultServiceConfig(maxBatch, replayPolicy, bufferEntries, maxBatchesPerPass, on, readDuplication,
                faultingThreadServices);
    }

    public FaultServiceConfig withReadDuplication(boolean on) {
        return new FaultServiceConfig(maxBatch, replayPolicy, bufferEntries, maxBatchesPerPass, exclusiveAtomics, on,
                faultingThreadServices);
    }

    public FaultServiceConfig withFaultingThreadServices(boolean on) {
        return new FaultServiceConfig(maxBatch, replayPolicy, bufferEntries, maxBatchesPerPass, exclusiveAtomics,
                readDuplication, on);
    }
}
