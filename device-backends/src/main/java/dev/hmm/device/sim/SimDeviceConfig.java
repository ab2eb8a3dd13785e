package dev.hmm.device.sim;

import dev.hmm.mm.MemoryType;

/**
 * Configuration of a {@link SimulatedDevice}.
 *
 * @param name device name, unique per engine (metric tags, reports)
 * @param capacityBytes device memory; a multiple of the engine's page size
 * @param type {@link MemoryType#DEVICE_PRIVATE} (a GPU's VRAM seen through HMM),
 *     {@link MemoryType#DEVICE_COHERENT} (CXL / CDM memory) or {@link MemoryType#DEVICE_PERSISTENT} (pmem)
 * @param copyThreads threads of the copy engine, the submitting thread included (1 = the migrating thread copies)
 */
public record SimDeviceConfig(String name, long capacityBytes, MemoryType type, int copyThreads) {

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

    /** A private device of the given capacity with one copy thread. */
    public static SimDeviceConfig privateDevice(String name, long capacityBytes) {
        return new SimDeviceConfig(name, capacityBytes, MemoryType.DEVICE_PRIVATE, 1);
    }

    public SimDeviceConfig withType(MemoryType t) {
        return new SimDeviceConfig(name, capacityBytes, t, copyThreads);
    }

    public SimDeviceConfig withCopyThreads(int n) {
        return new SimDeviceConfig(name, capacityBytes, type, n);
    }
}
