package dev.hmm.mm;

/**
 * What a device backend implements to give the engine its memory and its copy engine (the part of a GPU driver that
 * calls {@code memremap_pages} and programs DMA). The engine does the rest: the {@link DevicePagemap}, migration,
 * the fault path and device accesses ({@link Device}).
 */
public interface DeviceDriver extends AutoCloseable {

    /** A short name, unique per engine (metric tags, reports). */
    String name();

    /** {@link MemoryType#DEVICE_PRIVATE}, {@link MemoryType#DEVICE_COHERENT} or {@link MemoryType#DEVICE_PERSISTENT}. */
    MemoryType memoryType();

    /** Device memory in bytes; a multiple of the engine's page size. */
    long capacityBytes();

    /** Allocates the device memory backing {@code frames} frames; called once, when the device is attached. */
    PageStore createPageStore(long frames, int pageSize, DataPlane plane);

    /** The engine that copies pages between this device's memory and system RAM. */
    CopyEngine copyEngine();

    /**
     * The owner token compared by {@code migrate_vma} selection and range faults ({@code pgmap->owner}). Devices of
     * one driver instance may share it; by default each driver is its own owner.
     */
    default Object owner() {
        return this;
    }

    /** Releases the copy engine and anything else the driver holds; the page store is closed by the engine. */
    @Override
    default void close() {
        copyEngine().close();
    }
}
