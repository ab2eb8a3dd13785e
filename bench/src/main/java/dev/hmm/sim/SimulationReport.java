package dev.hmm.sim;

import dev.hmm.mm.Device;
import dev.hmm.mm.HmmEngine;
import dev.hmm.mm.HmmStats;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The result of one {@code ./hmm simulate} run: the report fields of docs/report-format.md, in that order. Immutable.
 *
 * @param fields field name to value (numbers, strings, maps, lists), in report order
 */
public record SimulationReport(Map<String, Object> fields) {

    static SimulationReport of(SimulationConfig c, HmmEngine engine, List<Device> devices, List<Accessor> accessors,
            double wallSeconds, long finalMismatchBytes, List<String> violations, Simulation.FileOutcome file) {
        HmmStats s = engine.stats();
        long accesses = 0;
        long cpuAccesses = 0;
        long dataErrors = finalMismatchBytes + (file == null ? 0 : file.fileMismatchBytes());
        for (Accessor a : accessors) {
            accesses += a.accesses;
            dataErrors += a.dataErrors;
            if (a.isCpu()) {
                cpuAccesses += a.accesses;
            }
        }
        double migrationSeconds = s.migrateNanos() / 1e9;
        double copySeconds = s.copyNanos() / 1e9;
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("config", c.toMap());
        m.put("seed", c.seed());
        m.put("pagesToDevice", s.pagesToDevice());
        m.put("pagesToRam", s.pagesToRam());
        m.put("bytesMigrated", s.bytesMigrated());
        m.put("cpuFaults", s.cpuFaults());
        m.put("deviceFaults", s.deviceFaults());
        m.put("migrationFailures", s.migrationFailures());
        m.put("wallSeconds", round(wallSeconds));
        m.put("migrationGBps", round(migrationSeconds > 0 ? s.bytesMigrated() / migrationSeconds / 1e9 : 0));
        m.put("dataErrors", dataErrors);
        m.put("faultBatches", s.faultBatches());
        m.put("duplicateFaults", s.duplicateFaults());
        m.put("invalidations", s.mirrorInvalidations());
        m.put("rangeFaultRetries", s.rangeFaultRetries());
        m.put("remoteAccesses", s.remoteAccesses());
        m.put("exclusiveRevocations", s.exclusiveRevocations());
        m.put("evictions", s.evictions());
        m.put("evictedBytes", s.evictedBytes(c.pageSize()));
        m.put("evictionSkips", s.evictionSkips());
        m.put("lruLostHints", s.lruLostHints());
        m.put("oversubscriptionPercent", round(c.oversubscriptionPercent()));
        m.put("duplicatesCreated", s.duplicatesCreated());
        m.put("droppedDuplicates", s.droppedDuplicates());
        m.put("fileReadPages", s.fileReadPages());
        m.put("writebackPages", s.writebackPages());
        m.put("droppedCleanPages", s.droppedCleanPages());
        // beyond the fields the issue names
        m.put("accesses", accesses);
        m.put("cpuAccesses", cpuAccesses);
        m.put("deviceAccesses", accesses - cpuAccesses);
        m.put("accessesPerSecond", round(wallSeconds > 0 ? accesses / wallSeconds : 0));
        Map<String, Object> cpuFaults = new LinkedHashMap<>();
        cpuFaults.put("firstTouch", s.cpuFirstTouchFaults());
        cpuFaults.put("devicePrivate", s.cpuDevicePrivateFaults());
        cpuFaults.put("writeProtect", s.cpuWriteProtectFaults());
        m.put("cpuFaultsByKind", cpuFaults);
        m.put("migrationSeconds", round(migrationSeconds));
        m.put("copySeconds", round(copySeconds));
        m.put("copyGBps", round(copySeconds > 0 ? s.bytesMigrated() / copySeconds / 1e9 : 0));
        m.put("copyBatches", s.copyBatches());
        m.put("servicedFaults", s.servicedFaults());
        m.put("replays", s.replays());
        m.put("faultBufferFullWaits", s.faultBufferFullWaits());
        m.put("faultWaitSeconds", round(s.faultWaitNanos() / 1e9));
        m.put("remoteMappings", s.remoteMappings());
        m.put("migrationWaits", s.migrationWaits());
        m.put("tlbFlushes", s.tlbFlushes());
        m.put("finalCheckMismatchBytes", finalMismatchBytes);
        Map<String, Object> f = new LinkedHashMap<>();
        if (file != null) {
            f.put("path", c.file().toString());
            f.put("mapping", c.mapping().name().toLowerCase(java.util.Locale.ROOT));
            f.put("msyncPages", file.msyncPages());
            f.put("fileCheckMismatchBytes", file.fileMismatchBytes());
            f.put("truncatedPages", s.truncatedPages());
            f.put("writebackErrors", s.writebackErrors());
            f.put("cpuFileFaults", s.cpuFileFaults());
            f.put("cpuCowFaults", s.cpuCowFaults());
        }
        m.put("fileMapping", f);
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("ram", engine.ram().metadataBytesPerFrame());
        for (Device d : devices) {
            meta.put(d.name(), d.node().metadataBytesPerFrame());
        }
        m.put("frameMetadataBytes", meta);
        Map<String, Object> gpus = new LinkedHashMap<>();
        for (Device d : devices) {
            if (d.driver() instanceof dev.hmm.device.cuda.CudaDevice g) {
                Map<String, Object> one = new LinkedHashMap<>();
                one.put("gpu", g.gpuName());
                one.put("kernelLaunches", g.kernelLaunches());
                one.put("failedBatches", g.failedBatches());
                one.put("lastCopyError", g.lastCopyError());
                gpus.put(d.name(), one);
            }
        }
        m.put("gpus", gpus);
        m.put("invariantViolations", violations);
        return new SimulationReport(java.util.Collections.unmodifiableMap(m));
    }

    private static double round(double v) {
        return Math.round(v * 1000.0) / 1000.0;
    }

    public long dataErrors() {
        return ((Number) fields.get("dataErrors")).longValue();
    }

    @SuppressWarnings("unchecked")
    public List<String> invariantViolations() {
        return (List<String>) fields.get("invariantViolations");
    }

    public long number(String field) {
        return ((Number) fields.get(field)).longValue();
    }

    /** Whether the run kept every byte and every invariant. */
    public boolean ok() {
        return dataErrors() == 0 && invariantViolations().isEmpty();
    }
}
