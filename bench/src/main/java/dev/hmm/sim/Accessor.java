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

    Accessor(AddressSpace mm, Device device, ShadowMemory shadow, int pageSize, long seed) {
        this.mm = mm;
        this.device = device;
        this.shadow = shadow;
        this.page = arena.allocate(pageSize, 64);
        this.random = new SplittableRandom(seed);
    }

    boolean isCpu() {
        return device == null;
    }

    /** Reads the page at {@code va} (checking it) or writes a fresh pattern to it. False if the claim was busy. */
    boolean access(long va, boolean write) {
        if (shadow == null) {
            touch(va, write);
            accesses++;
            return true;
        }
        long len = page.byteSize();
        if (!shadow.tryClaim(va, len, write)) {
            skipped++;
            return false;
        }
        try {
            if (write) {
                ShadowMemory.pattern(page, random.nextLong());
                if (device == null) {
                    mm.write(va, page);
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
        accesses++;
        return true;
    }

    private void touch(long va, boolean write) {
        AccessType t = write ? AccessType.WRITE : AccessType.READ;
        if (device == null) {
            mm.touch(va, page.byteSize(), t);
        } else {
            device.touch(mm, va, page.byteSize(), t);
        }
    }

    @Override
    public void close() {
        arena.close();
    }
}
