package dev.hmm.device.sim;

import dev.hmm.mm.CopyEngine;
import dev.hmm.mm.MemoryType;

/**
 * Configuration of a {@link SimulatedDevice}.
 *
 * @param name device name, unique per engine (metric tags, reports)
 * @param capacityBytes device memory; a multiple of the engine's page size
 * @param type {@link MemoryType#DEVICE_PRIVATE} (a GPU's VRAM seen through HMM),
 *     {@link MemoryType#DEVICE_COHERENT} (CXL / CDM memory) or {@link MemoryType#DEVICE_PERSISTENT} (pmem)
 * @param copyThreads threads of the copy engine: with {@code asyncCopy} false the submitting thread included (1 = the
 *     migrating thread copies); with it true, threads of the engine's own
 * @param asyncCopy the copy engine is asynchronous, as a GPU's DMA engines are: {@code copyThreads} threads of its own
 *     copy while the migrating thread does the page-table work of the next chunk ({@link CopyEngine#asynchronous});
 *     every copy of 256 KiB or more is handed to one of them (smaller ones, a fault's few pages, are copied by the
 *     faulting thread: a hand-off would cost more)
 */
public record SimDeviceConfig(String name, long capacityBytes, MemoryType type, int copyThreads, boolean asyncCopy) {

    public SimDeviceConfig {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("device name must not be blank");
        }
        if (capacityBytes <= 0) {
            throw new IllegalArgumentException("device memory must be positive: capacityBytes=" + capacityBytes);
        }
        if (type == null || !type.isDevice()) {
            throw new IllegalArgumentException("device memory type must be DEVICE_PRIVATE, DEVICE_COHERENT or "
                    + "DEVICE_PERSISTENT: type=" + type);
        }
        if (copyThreads < 1 || copyThreads > 256) {
            throw new IllegalArgumentException("copy threads must be 1..256: copyThreads=" + copyThreads);
        }
    }

    /** A device whose copy engine is synchronous: the migrating thread copies, helped by {@code copyThreads - 1}. */
    public SimDeviceConfig(String name, long capacityBytes, MemoryType type, int copyThreads) {
        this(name, capacityBytes, type, copyThreads, false);
    }

    /** A private device of the given capacity with one copy thread. */
    public static SimDeviceConfig privateDevice(String name, long capacityBytes) {
        return new SimDeviceConfig(name, capacityBytes, MemoryType.DEVICE_PRIVATE, 1);
    }

    public SimDeviceConfig withType(MemoryType t) {
        return new SimDeviceConfig(name, capacityBytes, t, copyThreads, asyncCopy);
    }

    public SimDeviceConfig withCopyThreads(int n) {
        return new SimDeviceConfig(name, capacityBytes, type, n, asyncCopy);
    }

    public SimDeviceConfig withAsyncCopy(boolean async) {
        return new SimDeviceConfig(name, capacityBytes, type, copyThreads, async);
    }
}
