package dev.hmm.mm;

/**
 * Kinds of memory a frame can live in, after Linux {@code enum memory_type} ({@code include/linux/memremap.h}) and
 * the three kinds of device memory of the LSF/MM 2017 ZONE_DEVICE discussion.
 */
public enum MemoryType {
    /** Ordinary system RAM: CPU-addressable, movable, on the (Linux) LRU. */
    SYSTEM_RAM(true, true),
    /**
     * {@code MEMORY_DEVICE_PRIVATE}: movable but not CPU-addressable. The CPU page table holds a device-private entry;
     * any CPU touch faults and the owner's {@code migrateToRam} brings the page back.
     */
    DEVICE_PRIVATE(false, true),
    /**
     * {@code MEMORY_DEVICE_COHERENT} (CDM, CXL/CAPI): movable and CPU-addressable. The CPU reads and writes it in place
     * through a normal present entry; it migrates back to RAM only when asked.
     */
    DEVICE_COHERENT(true, true),
    /**
     * Persistent memory ({@code MEMORY_DEVICE_FS_DAX}, pmem): CPU-addressable but never moved. Every migration request
     * gets the per-page result {@link MigrateResult#UNMOVABLE}.
     */
    DEVICE_PERSISTENT(true, false);

    private final boolean cpuAddressable;
    private final boolean movable;

    MemoryType(boolean cpuAddressable, boolean movable) {
        this.cpuAddressable = cpuAddressable;
        this.movable = movable;
    }

    /** Whether the CPU may map a frame of this kind with a present page-table entry. */
    public boolean cpuAddressable() {
        return cpuAddressable;
    }

    /** Whether {@code migrate_vma} may move frames of this kind. */
    public boolean movable() {
        return movable;
    }

    /** Whether this is ZONE_DEVICE memory (anything but system RAM). */
    public boolean isDevice() {
        return this != SYSTEM_RAM;
    }
}
