package dev.hmm.mm;

import java.lang.foreign.MemorySegment;

/** CPU copies of single pages between host-addressable node memories (a copy-on-write, a bounce). */
final class MemorySegmentCopy {
    private MemorySegmentCopy() {
    }

    static void page(MemoryNode from, int fromIndex, MemoryNode to, int toIndex, int pageSize) {
        MemorySegment.copy(from.memory, from.offset(fromIndex), to.memory, to.offset(toIndex), pageSize);
    }
}
