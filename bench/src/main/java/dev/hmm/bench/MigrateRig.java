package dev.hmm.bench;

import dev.hmm.device.cuda.CudaCopyCeiling;
import dev.hmm.device.cuda.CudaDevice;
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
 * device and back with one call each, the copy engine running {@code copyThreads} threads. Its reference is
 * {@link #referenceRoundTrip}: on the simulated device, {@code MemorySegment.copy} of the same bytes, there and back,
 * between two off-heap segments like the RAM node's and the device's, on one thread; on a GPU
 * ({@link DeviceSource#cuda}), one bulk {@code cuMemcpyHtoD} and one {@code cuMemcpyDtoH} of the same bytes between
 * pinned host memory and GPU memory ({@link CudaCopyCeiling}). Shared by the JMH benchmarks and {@code ./hmm bench}.
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
    private final CudaCopyCeiling gpuCeiling;

    public MigrateRig(int pageSize, int batch, int copyThreads, DataPlane plane) {
        this(pageSize, batch, copyThreads, plane, DeviceSource.SIM);
    }

    public MigrateRig(int pageSize, int batch, int copyThreads, DataPlane plane, DeviceSource source) {
        this.batch = batch;
        this.bytes = (long) batch * pageSize;
        EngineConfig c = EngineConfig.of(bytes).withPageSize(pageSize).withDataPlane(plane)
                .withMigrateBatchPages(batch);
        engine = HmmEngine.create(c);
        arena = Arena.ofShared();
        try {
            device = DeviceSource.attach(engine, source.open("gpu0", bytes, copyThreads), null, null);
            mm = engine.createAddressSpace();
            va = mm.mmap(bytes, Prot.READ_WRITE);
            mm.touch(va, bytes, AccessType.WRITE); // first touch: every page mapped in RAM
            gpuCeiling = plane == DataPlane.REAL && device.driver() instanceof CudaDevice gpu
                    ? gpu.copyCeiling(bytes) : null;
            if (plane == DataPlane.REAL && gpuCeiling == null) {
                ram = arena.allocate(bytes, pageSize);
                dev = arena.allocate(bytes, pageSize);
                ram.fill((byte) 1);
                dev.fill((byte) 2);
            } else {
                ram = MemorySegment.NULL;
                dev = MemorySegment.NULL;
            }
        } catch (RuntimeException | Error e) {
            engine.close(); // a GPU without room for the ceiling must not keep the device's memory either
            arena.close();
            throw e;
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
            String gpu = device.driver() instanceof CudaDevice c && c.lastCopyError() != null
                    ? "; the GPU's last copy error: " + c.lastCopyError() : "";
            throw new IllegalStateException("benchmark migration moved " + n + " of " + batch + " pages: " + r + gpu);
        }
        return n;
    }

    /** Untimed set-up of a {@link #toDevice} measurement: every page back in RAM, wherever it is now. */
    public void placeInRam() {
        engine.migrateToRam(mm, va, bytes);
    }

    /** Untimed set-up of a {@link #toRam} measurement: every page on the device, wherever it is now. */
    public void placeOnDevice() {
        engine.migrate(mm, va, bytes, device);
    }

    /** The ceiling of {@link #toDevice}: the same bytes copied one way. Returns a byte read. */
    public byte referenceToDevice() {
        if (gpuCeiling != null) {
            gpuCeiling.toDevice();
            return 0;
        }
        MemorySegment.copy(ram, 0, dev, 0, bytes);
        return dev.get(java.lang.foreign.ValueLayout.JAVA_BYTE, bytes - 1);
    }

    /** The ceiling of {@link #toRam}: the same bytes copied back. Returns a byte read. */
    public byte referenceToRam() {
        if (gpuCeiling != null) {
            return gpuCeiling.toHost();
        }
        MemorySegment.copy(dev, 0, ram, 0, bytes);
        return ram.get(java.lang.foreign.ValueLayout.JAVA_BYTE, bytes - 1);
    }

    /** A CPU read of every page, resident in RAM: the cheapest pass over the same page-table entries. */
    public long touchAll() {
        mm.touch(va, bytes, AccessType.READ);
        return batch;
    }

    /** The ceiling: the same bytes copied there and back, without the engine (see the class). Returns a byte read. */
    public byte referenceRoundTrip() {
        if (gpuCeiling != null) {
            return gpuCeiling.roundTrip();
        }
        MemorySegment.copy(ram, 0, dev, 0, bytes);
        MemorySegment.copy(dev, 0, ram, 0, bytes);
        return ram.get(java.lang.foreign.ValueLayout.JAVA_BYTE, bytes - 1);
    }

    public HmmEngine engine() {
        return engine;
    }

    @Override
    public void close() {
        if (gpuCeiling != null) {
            gpuCeiling.close();
        }
        engine.close();
        arena.close();
    }
}
