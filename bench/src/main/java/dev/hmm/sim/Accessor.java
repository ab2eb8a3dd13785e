package dev.hmm.sim;

import dev.hmm.mm.AccessType;
import dev.hmm.mm.AddressSpace;
import dev.hmm.mm.Device;
import dev.hmm.verify.ShadowMemory;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/**
 * One simulated processor of a workload: the CPU or a device, with its own page buffer and random stream. In the
 * REAL plane every access claims its page in the shadow, writes a fresh pattern (recorded) or reads and compares;
 * in the METADATA plane it only touches.
 */
final class Accessor implements AutoCloseable {
    private final AddressSpace mm;
    private final Device device; // null: the CPU
    private final ShadowMemory shadow; // null: METADATA plane
    private final Arena arena = Arena.ofShared(); // built on the main thread, used by its worker thread
    private final MemorySegment page;
    final SplittableRandom random;
    long accesses;
    long dataErrors;
    long skipped;

    private final int pageSize;

    Accessor(AddressSpace mm, Device device, ShadowMemory shadow, int pageSize, long accessSize, long seed) {
        this.mm = mm;
        this.device = device;
        this.shadow = shadow;
        this.pageSize = pageSize;
        this.page = arena.allocate(accessSize, 64);
        this.random = new SplittableRandom(seed);
    }

    boolean isCpu() {
        return device == null;
    }

    /**
     * Reads {@code len} bytes at {@code va} (checking them) or writes a fresh pattern there; {@code len} is at most
     * the access size. False if a page claim was busy.
     */
    boolean access(long va, long len, boolean write) {
        return access(va, len, write, false);
    }

    /**
     * As {@link #access(long, long, boolean)}; {@code atomic} makes a device write an atomic read-modify-write (it needs the
     * page here or held device-exclusive). CPU accesses ignore it.
     */
    boolean access(long va, long len, boolean write, boolean atomic) {
        int pages = (int) ((len + pageSize - 1) / pageSize);
        if (shadow == null) {
            touch(va, len, write, atomic);
            accesses += pages;
            return true;
        }
        if (!shadow.tryClaim(va, len, write)) {
            skipped++;
            return false;
        }
        try {
            MemorySegment page = this.page.asSlice(0, len);
            if (write) {
                ShadowMemory.pattern(page, random.nextLong());
                if (device == null) {
                    mm.write(va, page);
                } else if (atomic) {
                    device.atomicWrite(mm, va, page);
                } else {
                    device.write(mm, va, page);
                }
                shadow.recordWrite(va, page);
            } else {
                if (device == null) {
                    mm.read(va, page);
                } else {
                    device.read(mm, va, page);
                }
                dataErrors += shadow.compare(va, page);
            }
        } finally {
            shadow.release(va, len, write);
        }
        accesses += pages;
        return true;
    }

    private void touch(long va, long len, boolean write, boolean atomic) {
        AccessType t = !write ? AccessType.READ : atomic && device != null ? AccessType.ATOMIC : AccessType.WRITE;
        if (device == null) {
            mm.touch(va, len, t);
        } else {
            device.touch(mm, va, len, t);
        }
    }

    @Override
    public void close() {
        arena.close();
    }
}
