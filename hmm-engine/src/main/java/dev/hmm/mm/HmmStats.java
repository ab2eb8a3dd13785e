package dev.hmm.mm;

import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * The engine's counters. Hot paths add to striped {@link LongAdder}s (per batch where they can, never per byte);
 * Micrometer reads them through {@link FunctionCounter}s, so recording costs no Micrometer call on the access path.
 * All meters are named {@code hmm.*} and registered on the {@link MeterRegistry} the embedding code passes.
 *
 * <pre>
 *  meter                          tags                         meaning
 *  hmm.migrate.pages              direction=to_device|to_ram   pages migrated
 *  hmm.migrate.bytes              direction                    bytes migrated
 *  hmm.migrate.results            result=&lt;MigrateResult key&gt;   per-page outcome of every migration request
 *  hmm.migrate.batch.pages        -                            pages per copy-engine batch (distribution)
 *  hmm.copy.time                  -                            time in copy-engine calls (timer)
 *  hmm.faults.cpu                 kind=first_touch|device_private|write_protect|file|copy_on_write   CPU faults
 *  hmm.faults.device              -                            device faults (a device access that missed)
 *  hmm.migration.waits            -                            accesses that slept on a migration entry
 *  hmm.tlb.flushes                -                            TLB shootdowns (grace periods)
 *  hmm.remote.accesses            -                            device accesses served where the page is (not moved)
 *  hmm.faults.device.serviced     -                            device faults serviced (one per page per batch)
 *  hmm.faults.device.duplicates   -                            device faults coalesced into another of their batch
 *  hmm.fault.batches              -                            fault batches serviced
 *  hmm.fault.batch.size           -                            faults per batch (distribution)
 *  hmm.fault.replays              -                            replays (wake-ups of faulting accessors, per policy)
 *  hmm.fault.wait                 -                            time accessors spent waiting for replay (timer)
 *  hmm.fault.buffer.full          -                            times a producer found the fault buffer full and waited
 *  hmm.mirror.invalidations       -                            device mirror entries cleared by CPU-side changes
 *  hmm.range_fault.retries        -                            hmm_range_fault walks redone (busy, or sequence moved)
 *  hmm.remote.mappings            reason=&lt;MigrateResult key&gt;  pages mapped remotely because they could not move
 *  hmm.exclusive.revocations      -                            device-exclusive entries revoked by a CPU touch
 *  hmm.evictions                  -                            device pages evicted to RAM (migrate_device_range)
 *  hmm.eviction.skips             reason=&lt;MigrateResult key&gt;  eviction candidates that could not go
 *  hmm.lru.lost_hints             -                            access hints dropped by the striped buffer
 *  hmm.duplicates.dropped         -                            read-duplicated device copies dropped without a copy
 *  hmm.duplicates.created         -                            read-only device copies made (read duplication)
 *  hmm.file.read.pages            -                            file pages read into the page cache
 *  hmm.file.writeback.pages       -                            dirty file pages written back (sync, unmap, eviction, close)
 *  hmm.file.dropped.clean         -                            clean page-cache pages dropped under memory pressure
 *  hmm.file.truncated.pages       -                            cached pages dropped by truncation
 *  hmm.file.writeback.errors      -                            dirty pages kept (not dropped) after a failed write
 *  hmm.frames.free                node=&lt;name&gt;                  free frames per node (gauge)
 * </pre>
 */
public final class HmmStats {
    final LongAdder pagesToDevice = new LongAdder();
    final LongAdder pagesToRam = new LongAdder();
    final LongAdder bytesToDevice = new LongAdder();
    final LongAdder bytesToRam = new LongAdder();
    final LongAdder[] results = new LongAdder[MigrateResult.values().length];
    final LongAdder cpuFirstTouch = new LongAdder();
    final LongAdder cpuDevicePrivate = new LongAdder();
    final LongAdder cpuWriteProtect = new LongAdder();
    final LongAdder cpuFileFaults = new LongAdder();
    final LongAdder cpuCowFaults = new LongAdder();
    final LongAdder deviceFaults = new LongAdder();
    final LongAdder remoteAccesses = new LongAdder();
    final LongAdder copyNanos = new LongAdder();
    final LongAdder migrateNanos = new LongAdder();
    final LongAdder batches = new LongAdder();
    final LongAdder servicedFaults = new LongAdder();
    final LongAdder duplicateFaults = new LongAdder();
    final LongAdder faultBatches = new LongAdder();
    final LongAdder replays = new LongAdder();
    final LongAdder mirrorInvalidations = new LongAdder();
    final LongAdder rangeFaultRetries = new LongAdder();
    final LongAdder[] remoteMappings = new LongAdder[MigrateResult.values().length];
    final LongAdder exclusiveRevocations = new LongAdder();
    final LongAdder faultWaitNanos = new LongAdder();
    final LongAdder faultBufferFullWaits = new LongAdder();
    final LongAdder evictions = new LongAdder();
    final LongAdder[] evictionSkips = new LongAdder[MigrateResult.values().length];
    final LongAdder lruLostHints = new LongAdder();
    final LongAdder droppedDuplicates = new LongAdder();
    final LongAdder duplicatesCreated = new LongAdder();
    final LongAdder fileReadPages = new LongAdder();
    final LongAdder writebackPages = new LongAdder();
    final LongAdder droppedCleanPages = new LongAdder();
    final LongAdder truncatedPages = new LongAdder();
    final LongAdder writebackErrors = new LongAdder();

    private final MeterRegistry registry;
    private final DistributionSummary batchPages;
    private final Timer copyTime;
    private final DistributionSummary faultBatchSize;
    private final Timer faultWait;
    private final Tlb tlb;
    private final PageWaitTable waits;

    HmmStats(MeterRegistry registry, Tlb tlb, PageWaitTable waits) {
        this.registry = registry;
        this.tlb = tlb;
        this.waits = waits;
        for (int i = 0; i < results.length; i++) {
            results[i] = new LongAdder();
            remoteMappings[i] = new LongAdder();
            evictionSkips[i] = new LongAdder();
        }
        counter("hmm.migrate.pages", Tags.of("direction", "to_device"), pagesToDevice, "pages migrated");
        counter("hmm.migrate.pages", Tags.of("direction", "to_ram"), pagesToRam, "pages migrated");
        counter("hmm.migrate.bytes", Tags.of("direction", "to_device"), bytesToDevice, "bytes migrated");
        counter("hmm.migrate.bytes", Tags.of("direction", "to_ram"), bytesToRam, "bytes migrated");
        for (MigrateResult r : MigrateResult.values()) {
            counter("hmm.migrate.results", Tags.of("result", r.key()), results[r.ordinal()],
                    "per-page outcome of migration requests");
        }
        counter("hmm.faults.cpu", Tags.of("kind", "first_touch"), cpuFirstTouch, "CPU faults");
        counter("hmm.faults.cpu", Tags.of("kind", "device_private"), cpuDevicePrivate, "CPU faults");
        counter("hmm.faults.cpu", Tags.of("kind", "write_protect"), cpuWriteProtect, "CPU faults");
        counter("hmm.faults.cpu", Tags.of("kind", "file"), cpuFileFaults, "CPU faults");
        counter("hmm.faults.cpu", Tags.of("kind", "copy_on_write"), cpuCowFaults, "CPU faults");
        counter("hmm.faults.device", Tags.empty(), deviceFaults, "device faults");
        counter("hmm.remote.accesses", Tags.empty(), remoteAccesses, "device accesses served in place, over the link");
        FunctionCounter.builder("hmm.migration.waits", waits, PageWaitTable::waitCount)
                .description("accesses that slept on a migration entry").register(registry);
        FunctionCounter.builder("hmm.tlb.flushes", tlb, Tlb::flushCount)
                .description("TLB shootdowns (grace periods)").register(registry);
        counter("hmm.faults.device.serviced", Tags.empty(), servicedFaults, "device faults serviced");
        counter("hmm.faults.device.duplicates", Tags.empty(), duplicateFaults, "device faults coalesced");
        counter("hmm.fault.batches", Tags.empty(), faultBatches, "fault batches serviced");
        counter("hmm.fault.replays", Tags.empty(), replays, "replays of faulting accessors");
        counter("hmm.fault.buffer.full", Tags.empty(), faultBufferFullWaits, "producers that waited on a full buffer");
        counter("hmm.mirror.invalidations", Tags.empty(), mirrorInvalidations, "mirror entries invalidated");
        counter("hmm.range_fault.retries", Tags.empty(), rangeFaultRetries, "hmm_range_fault walks redone");
        counter("hmm.exclusive.revocations", Tags.empty(), exclusiveRevocations, "device-exclusive entries revoked");
        counter("hmm.evictions", Tags.empty(), evictions, "device pages evicted to RAM");
        counter("hmm.lru.lost_hints", Tags.empty(), lruLostHints, "LRU access hints dropped under contention");
        counter("hmm.duplicates.dropped", Tags.empty(), droppedDuplicates, "read-duplicated copies dropped");
        counter("hmm.duplicates.created", Tags.empty(), duplicatesCreated, "read-only device copies made");
        counter("hmm.file.read.pages", Tags.empty(), fileReadPages, "file pages read into the page cache");
        counter("hmm.file.writeback.pages", Tags.empty(), writebackPages, "dirty file pages written back");
        counter("hmm.file.dropped.clean", Tags.empty(), droppedCleanPages, "clean page-cache pages dropped");
        counter("hmm.file.truncated.pages", Tags.empty(), truncatedPages, "cached pages dropped by truncation");
        counter("hmm.file.writeback.errors", Tags.empty(), writebackErrors, "dirty pages kept after a failed write");
        for (MigrateResult r : MigrateResult.values()) {
            if (r != MigrateResult.MIGRATED) {
                counter("hmm.eviction.skips", Tags.of("reason", r.key()), evictionSkips[r.ordinal()],
                        "eviction candidates that could not go");
            }
        }
        for (MigrateResult r : MigrateResult.values()) {
            if (r != MigrateResult.MIGRATED) {
                counter("hmm.remote.mappings", Tags.of("reason", r.key()), remoteMappings[r.ordinal()],
                        "pages mapped remotely because they could not move");
            }
        }
        this.faultBatchSize = DistributionSummary.builder("hmm.fault.batch.size")
                .description("faults per batch").baseUnit("faults").register(registry);
        this.faultWait = Timer.builder("hmm.fault.wait").description("time accessors waited for replay")
                .register(registry);
        this.batchPages = DistributionSummary.builder("hmm.migrate.batch.pages")
                .description("pages per copy-engine batch").baseUnit("pages").register(registry);
        this.copyTime = Timer.builder("hmm.copy.time").description("time in copy-engine calls").register(registry);
    }

    private void counter(String name, Tags tags, LongAdder adder, String description) {
        FunctionCounter.builder(name, adder, LongAdder::sum).tags(tags).description(description).register(registry);
    }

    void registerNode(MemoryNode node) {
        Gauge.builder("hmm.frames.free", node, MemoryNode::freeFrames).tags("node", node.name())
                .description("free frames").baseUnit("frames").register(registry);
    }

    /**
     * Runs {@code batch} through {@code copyEngine} and records it: one batch of {@code batch.count()} pages, and the time
     * of the call when it moves bytes. A METADATA batch moves none, so it is not timed: its call is bookkeeping, and on
     * the virtual machines of docs/benchmarks.md two clock reads (about 45 ns each) were a tenth of a one-page
     * migration.
     */
    void copy(CopyEngine copyEngine, CopyBatch batch) {
        if (!batch.hasData()) {
            copyEngine.copy(batch);
            recordBatch(batch.count(), 0);
            return;
        }
        long t0 = System.nanoTime();
        copyEngine.copy(batch);
        recordBatch(batch.count(), System.nanoTime() - t0);
    }

    void recordBatch(int pages, long copyNs) {
        batches.increment();
        batchPages.record(pages);
        copyNanos.add(copyNs);
        copyTime.record(copyNs, TimeUnit.NANOSECONDS);
    }

    void recordFaultBatch(int faults) {
        faultBatches.increment();
        faultBatchSize.record(faults);
    }

    void recordFaultWait(long nanos) {
        faultWaitNanos.add(nanos);
        faultWait.record(nanos, TimeUnit.NANOSECONDS);
    }

    void recordMigrated(boolean toDevice, long pages, long bytes) {
        if (toDevice) {
            pagesToDevice.add(pages);
            bytesToDevice.add(bytes);
        } else {
            pagesToRam.add(pages);
            bytesToRam.add(bytes);
        }
    }

    /** The registry the meters live on. */
    public MeterRegistry registry() {
        return registry;
    }

    public long pagesToDevice() {
        return pagesToDevice.sum();
    }

    public long pagesToRam() {
        return pagesToRam.sum();
    }

    public long bytesMigrated() {
        return bytesToDevice.sum() + bytesToRam.sum();
    }

    public long bytesToDevice() {
        return bytesToDevice.sum();
    }

    public long bytesToRam() {
        return bytesToRam.sum();
    }

    public long results(MigrateResult r) {
        return results[r.ordinal()].sum();
    }

    /** Pages that did not move, by reason key (only reasons seen at least once). */
    public Map<String, Long> migrationFailures() {
        Map<String, Long> m = new LinkedHashMap<>();
        for (MigrateResult r : MigrateResult.values()) {
            long v = results[r.ordinal()].sum();
            if (r != MigrateResult.MIGRATED && v > 0) {
                m.put(r.key(), v);
            }
        }
        return m;
    }

    public long cpuFaults() {
        return cpuFirstTouch.sum() + cpuDevicePrivate.sum() + cpuWriteProtect.sum() + cpuFileFaults.sum()
                + cpuCowFaults.sum();
    }

    public long cpuFirstTouchFaults() {
        return cpuFirstTouch.sum();
    }

    public long cpuDevicePrivateFaults() {
        return cpuDevicePrivate.sum();
    }

    public long cpuFileFaults() {
        return cpuFileFaults.sum();
    }

    public long cpuCowFaults() {
        return cpuCowFaults.sum();
    }

    public long cpuWriteProtectFaults() {
        return cpuWriteProtect.sum();
    }

    public long deviceFaults() {
        return deviceFaults.sum();
    }

    public long remoteAccesses() {
        return remoteAccesses.sum();
    }

    public long servicedFaults() {
        return servicedFaults.sum();
    }

    public long duplicateFaults() {
        return duplicateFaults.sum();
    }

    public long faultBatches() {
        return faultBatches.sum();
    }

    public long replays() {
        return replays.sum();
    }

    public long mirrorInvalidations() {
        return mirrorInvalidations.sum();
    }

    public long rangeFaultRetries() {
        return rangeFaultRetries.sum();
    }

    public long exclusiveRevocations() {
        return exclusiveRevocations.sum();
    }

    public long faultWaitNanos() {
        return faultWaitNanos.sum();
    }

    public long faultBufferFullWaits() {
        return faultBufferFullWaits.sum();
    }

    public long evictions() {
        return evictions.sum();
    }

    public long evictedBytes(int pageSize) {
        return evictions.sum() * pageSize;
    }

    public long lruLostHints() {
        return lruLostHints.sum();
    }

    public long fileReadPages() {
        return fileReadPages.sum();
    }

    public long writebackPages() {
        return writebackPages.sum();
    }

    public long droppedCleanPages() {
        return droppedCleanPages.sum();
    }

    public long truncatedPages() {
        return truncatedPages.sum();
    }

    public long writebackErrors() {
        return writebackErrors.sum();
    }

    public long duplicatesCreated() {
        return duplicatesCreated.sum();
    }

    public long droppedDuplicates() {
        return droppedDuplicates.sum();
    }

    /** Eviction candidates skipped, by reason (reasons seen at least once). */
    public Map<String, Long> evictionSkips() {
        Map<String, Long> m = new LinkedHashMap<>();
        for (MigrateResult r : MigrateResult.values()) {
            long v = evictionSkips[r.ordinal()].sum();
            if (v > 0) {
                m.put(r.key(), v);
            }
        }
        return m;
    }

    /** Pages mapped remotely, by the reason they could not move (reasons seen at least once). */
    public Map<String, Long> remoteMappings() {
        Map<String, Long> m = new LinkedHashMap<>();
        for (MigrateResult r : MigrateResult.values()) {
            long v = remoteMappings[r.ordinal()].sum();
            if (v > 0) {
                m.put(r.key(), v);
            }
        }
        return m;
    }

    public long migrationWaits() {
        return waits.waitCount();
    }

    public long migrationWaitNanos() {
        return waits.waitNanos();
    }

    public long tlbFlushes() {
        return tlb.flushCount();
    }

    public long copyBatches() {
        return batches.sum();
    }

    public long copyNanos() {
        return copyNanos.sum();
    }

    /** Total time threads spent inside migrations (setup to finalize), summed over threads. */
    public long migrateNanos() {
        return migrateNanos.sum();
    }
}
