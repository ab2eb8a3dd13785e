package dev.hmm.mm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The data plane of one memory node: where the bytes of its frames live. {@link DataPlane#REAL} stores are one
 * off-heap segment of {@code frames * pageSize} bytes, frame {@code i} at offset {@code i * pageSize};
 * {@link DataPlane#METADATA} stores have no bytes at all.
 *
 * <p>A backend may supply its own store (a mapped file for persistent memory, device memory for a real GPU).
 */
public interface PageStore extends AutoCloseable {

    /** Whether frames have bytes ({@link DataPlane#REAL}). */
    boolean hasData();

    /**
     * The whole node's memory, frame {@code i} at {@code i * pageSize()}. Only for stores with data; CPU code reads
     * and writes through it, so a store whose memory is not host-addressable must say so by returning
     * {@link MemorySegment#NULL} and providing its own {@link CopyEngine}.
     */
    MemorySegment memory();

    int pageSize();

    long frames();

    /**
     * Copies {@code bytes} bytes at {@code offset} of this store into {@code dst}: how the engine reads a frame that
     * is not host-addressable (a device access to device-private memory of a real GPU). The default reads
     * {@link #memory()}; a store without host-addressable memory overrides both this and {@link #write}.
     */
    default void read(long offset, MemorySegment dst, long dstOffset, long bytes) {
        MemorySegment.copy(memory(), offset, dst, dstOffset, bytes);
    }

    /** Copies {@code bytes} bytes of {@code src} to {@code offset} of this store; see {@link #read}. */
    default void write(MemorySegment src, long srcOffset, long offset, long bytes) {
        MemorySegment.copy(src, srcOffset, memory(), offset, bytes);
    }

    /** Releases the memory. Idempotent. */
    @Override
    void close();

    /** An off-heap store from a shared arena, page-aligned, zero-filled. */
    static PageStore offHeap(long frames, int pageSize) {
        return new OffHeap(frames, pageSize);
    }

    /** A store without bytes, for {@link DataPlane#METADATA}. */
    static PageStore metadata(long frames, int pageSize) {
        return new Metadata(frames, pageSize);
    }

    /**
     * A store whose frames are the bytes of a file ({@code frames * pageSize} of it, extended if shorter), mapped
     * shared: what it holds survives the engine (persistent memory, fsdax). Closing forces it to the file.
     */
    static PageStore mappedFile(java.nio.file.Path file, long frames, int pageSize) throws java.io.IOException {
        return new MappedFileStore(file, frames, pageSize);
    }

    static PageStore create(DataPlane plane, long frames, int pageSize) {
        return plane == DataPlane.REAL ? offHeap(frames, pageSize) : metadata(frames, pageSize);
    }

    /** Frames that are one host-addressable segment owned by a shared arena: what off-heap and mapped stores share. */
    abstract sealed class SegmentStore implements PageStore permits OffHeap, MappedFileStore {
        final Arena arena;
        final MemorySegment memory;
        private final long frames;
        private final int pageSize;

        SegmentStore(Arena arena, MemorySegment memory, long frames, int pageSize) {
            this.arena = arena;
            this.memory = memory;
            this.frames = frames;
            this.pageSize = pageSize;
        }

        @Override
        public boolean hasData() {
            return true;
        }

        @Override
        public MemorySegment memory() {
            return memory;
        }

        @Override
        public int pageSize() {
            return pageSize;
        }

        @Override
        public long frames() {
            return frames;
        }

        /** Called once, before the arena closes. */
        void beforeClose() {
        }

        @Override
        public synchronized void close() {
            if (arena.scope().isAlive()) {
                beforeClose();
                arena.close();
            }
        }
    }

    /** Off-heap memory from one {@code Arena.ofShared()}, closed only when the store is closed. */
    final class OffHeap extends SegmentStore {
        OffHeap(long frames, int pageSize) {
            this(Arena.ofShared(), frames, pageSize);
        }

        private OffHeap(Arena arena, long frames, int pageSize) {
            super(arena, allocate(arena, frames, pageSize), frames, pageSize);
        }

        private static MemorySegment allocate(Arena arena, long frames, int pageSize) {
            try {
                return arena.allocate(frames * pageSize, pageSize);
            } catch (OutOfMemoryError | IllegalArgumentException e) {
                arena.close();
                throw new IllegalArgumentException("cannot allocate " + frames + " frames of " + pageSize
                        + " bytes off-heap (" + (frames * pageSize >> 20) + " MiB): " + e.getMessage(), e);
            }
        }
    }

    /** Frames backed by a file mapped with {@code FileChannel.map} into a shared arena; closing forces them to it. */
    final class MappedFileStore extends SegmentStore {
        private final java.nio.file.Path file;

        MappedFileStore(java.nio.file.Path file, long frames, int pageSize) throws java.io.IOException {
            this(file, Arena.ofShared(), frames, pageSize);
        }

        private MappedFileStore(java.nio.file.Path file, Arena arena, long frames, int pageSize)
                throws java.io.IOException {
            super(arena, map(file, arena, frames * pageSize), frames, pageSize);
            this.file = file;
        }

        private static MemorySegment map(java.nio.file.Path file, Arena arena, long bytes) throws java.io.IOException {
            try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file,
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.READ,
                    java.nio.file.StandardOpenOption.WRITE)) {
                if (ch.size() < bytes) {
                    ch.write(java.nio.ByteBuffer.allocate(1), bytes - 1);
                }
                return ch.map(java.nio.channels.FileChannel.MapMode.READ_WRITE, 0, bytes, arena);
            } catch (java.io.IOException | RuntimeException e) {
                arena.close();
                throw e;
            }
        }

        /** The file behind the frames. */
        public java.nio.file.Path file() {
            return file;
        }

        @Override
        void beforeClose() {
            memory.force();
        }
    }

    /** No bytes: every page-table and migration step runs, no byte is copied. */
    record Metadata(long frames, int pageSize) implements PageStore {
        @Override
        public boolean hasData() {
            return false;
        }

        @Override
        public MemorySegment memory() {
            return MemorySegment.NULL;
        }

        @Override
        public void close() {
        }
    }
}
