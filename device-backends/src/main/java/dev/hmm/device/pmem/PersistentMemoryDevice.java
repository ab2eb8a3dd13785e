package dev.hmm.device.pmem;

import dev.hmm.mm.CopyEngine;
import dev.hmm.mm.DataPlane;
import dev.hmm.mm.DeviceDriver;
import dev.hmm.mm.MemcpyCopyEngine;
import dev.hmm.mm.MemoryType;
import dev.hmm.mm.PageStore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * Persistent memory backed by a real file (the fsdax / pmem model): {@link MemoryType#DEVICE_PERSISTENT}, addressable
 * and never moved. Its frames are the file's bytes, mapped shared, so a DAX mapping ({@code AddressSpace.mmapDax})
 * reads and writes the file directly, without a page cache, and what was written is there after the engine is closed
 * and a new one opens the same file. Every migration request gets {@code unmovable}.
 *
 * {@snippet lang = "java" :
 * Device pmem = engine.attachDevice(new PersistentMemoryDevice("pmem0", Path.of("/tmp/pmem.img"), 64 << 20));
 * long va = mm.mmapDax(pmem, 0, 1 << 20, Prot.READ_WRITE);
 * }
 */
public final class PersistentMemoryDevice implements DeviceDriver {
    private final String name;
    private final Path file;
    private final long capacity;
    private final MemcpyCopyEngine copy;

    /**
     * @param file the backing file; created if missing, extended to {@code capacityBytes} if shorter
     * @param capacityBytes a multiple of the engine's page size
     */
    public PersistentMemoryDevice(String name, Path file, long capacityBytes) {
        if (capacityBytes <= 0) {
            throw new IllegalArgumentException("persistent memory must be positive: capacityBytes=" + capacityBytes);
        }
        this.name = name;
        this.file = file;
        this.capacity = capacityBytes;
        this.copy = new MemcpyCopyEngine(name, 1);
    }

    public Path file() {
        return file;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public MemoryType memoryType() {
        return MemoryType.DEVICE_PERSISTENT;
    }

    @Override
    public long capacityBytes() {
        return capacity;
    }

    @Override
    public PageStore createPageStore(long frames, int pageSize, DataPlane plane) {
        if (plane == DataPlane.METADATA) {
            return PageStore.metadata(frames, pageSize);
        }
        try {
            return PageStore.mappedFile(file, frames, pageSize);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot map persistent memory file " + file, e);
        }
    }

    @Override
    public CopyEngine copyEngine() {
        return copy;
    }
}
