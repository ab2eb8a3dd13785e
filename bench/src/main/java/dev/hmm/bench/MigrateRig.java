package dev.hmm.bench;

import dev.hmm.device.sim.SimDeviceConfig;
import dev.hmm.device.sim.SimulatedDevice;
import dev.hmm.mm.AccessType;
import dev.hmm.mm.AddressSpace;
import dev.hmm.mm.DataPlane;
import dev.hmm.mm.Device;
import dev.hmm.mm.EngineConfig;
import dev.hmm.mm.HmmEngine;
import dev.hmm.mm.MigrationResult;
import dev.hmm.mm.Prot;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * One {@code migrate_vma} benchmark case: {@code batch} pages of {@code pageSize} mapped in RAM, migrated to a
 * simulated device and back with one call each, the copy engine running {@code copyThreads} threads. Its reference is
 * {@link #referenceRoundTrip}: {@code MemorySegment.copy} of the same bytes, there and back, between two off-heap
 * segments like the RAM node's and the device's, on one thread. Shared by the JMH benchmarks and {@code ./hmm bench}.
 */
public final class MigrateRig implements AutoCloseable {
    private final HmmEngine engine;
    private final Device device;
    private final AddressSpace mm;
    private final long va;
    private final long bytes;
    private final int batch;
    private final Arena arena;
    private final MemorySegment ram;
    private final MemorySegment dev;

    public MigrateRig(int pageSize, int batch, int copyThreads, DataPlane plane) {
        this.batch = batch;
        this.bytes = (long) batch * pageSize;
        EngineConfig c = EngineConfig.of(bytes).withPageSize(pageSize).withDataPlane(plane)
                .withMigrateBatchPages(batch);
        engine = HmmEngine.create(c);
        device = engine.attachDevice(new SimulatedDevice(SimDeviceConfig.privateDevice("gpu0", bytes)
                .withCopyThreads(copyThreads)));
        mm = engine.createAddressSpace();
        va = mm.mmap(bytes, Prot.READ_WRITE);
        mm.touch(va, bytes, AccessType.WRITE); // first touch: every page mapped in RAM
        arena = Arena.ofShared();
        if (plane == DataPlane.REAL) {
            ram = arena.allocate(bytes, pageSize);
            dev = arena.allocate(bytes, pageSize);
            ram.fill((byte) 1);
            dev.fill((byte) 2);
        } else {
            ram = MemorySegment.NULL;
            dev = MemorySegment.NULL;
        }
    }

    /** Bytes one direction of one round trip moves. */
    public long bytes() {
        return bytes;
    }

    public int batch() {
        return batch;
    }

    /** RAM to device, then back: one {@code migrate_vma} call each way. Returns the pages moved (2 x batch). */
    public long roundTrip() {
        return toDevice() + toRam();
    }

    public long toDevice() {
        return check(engine.migrate(mm, va, bytes, device));
    }

    public long toRam() {
        return check(engine.migrateToRam(mm, va, bytes));
    }

    private long check(MigrationResult r) {
        long n = r.migrated();
        if (n != batch) {
            throw new IllegalStateException("benchmark migration moved " + n + " of " + batch + " pages: " + r);
        }
        return n;
    }

    /** A CPU read of every page, resident in RAM: the cheapest pass over the same page-table entries. */
    public long touchAll() {
        mm.touch(va, bytes, AccessType.READ);
        return batch;
    }

    /** The ceiling: the same bytes copied there and back between two off-heap segments. Returns a byte read. */
    public byte referenceRoundTrip() {
        MemorySegment.copy(ram, 0, dev, 0, bytes);
        MemorySegment.copy(dev, 0, ram, 0, bytes);
        return ram.get(java.lang.foreign.ValueLayout.JAVA_BYTE, bytes - 1);
    }

    public HmmEngine engine() {
        return engine;
    }

    @Override
    public void close() {
        engine.close();
        arena.close();
    }
}
