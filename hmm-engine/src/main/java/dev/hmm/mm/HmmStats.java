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
 *  hmm.faults.cpu                 kind=first_touch|device_private|write_protect   CPU faults
 *  hmm.faults.device              -                            device faults (a device access that missed)
 *  hmm.migration.waits            -                            accesses that slept on a migration entry
 *  hmm.tlb.flushes                -                            TLB shootdowns (grace periods)
 *  hmm.remote.accesses            -                            device accesses served where the page is (not moved)
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
    final LongAdder deviceFaults = new LongAdder();
    final LongAdder remoteAccesses = new LongAdder();
    final LongAdder copyNanos = new LongAdder();
    final LongAdder migrateNanos = new LongAdder();
    final LongAdder batches = new LongAdder();

    private final MeterRegistry registry;
    private final DistributionSummary batchPages;
    private final Timer copyTime;
    private final Tlb tlb;
    private final PageWaitTable waits;

    HmmStats(MeterRegistry registry, Tlb tlb, PageWaitTable waits) {
        this.registry = registry;
        this.tlb = tlb;
        this.waits = waits;
        for (int i = 0; i < results.length; i++) {
            results[i] = new LongAdder();
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
        counter("hmm.faults.device", Tags.empty(), deviceFaults, "device faults");
        counter("hmm.remote.accesses", Tags.empty(), remoteAccesses, "device accesses served in place, over the link");
        FunctionCounter.builder("hmm.migration.waits", waits, PageWaitTable::waitCount)
                .description("accesses that slept on a migration entry").register(registry);
        FunctionCounter.builder("hmm.tlb.flushes", tlb, Tlb::flushCount)
                .description("TLB shootdowns (grace periods)").register(registry);
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

    void recordBatch(int pages, long copyNs) {
        batches.increment();
        batchPages.record(pages);
        copyNanos.add(copyNs);
        copyTime.record(copyNs, TimeUnit.NANOSECONDS);
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
        return cpuFirstTouch.sum() + cpuDevicePrivate.sum() + cpuWriteProtect.sum();
    }

    public long cpuFirstTouchFaults() {
        return cpuFirstTouch.sum();
    }

    public long cpuDevicePrivateFaults() {
        return cpuDevicePrivate.sum();
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
