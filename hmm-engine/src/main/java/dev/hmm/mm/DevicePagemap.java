package dev.hmm.mm;

/**
 * A device's registration of its memory with the engine ({@code struct dev_pagemap}, {@code memremap_pages}): the
 * frame range of its {@link MemoryNode}, the memory type, the owner token that {@code migrate_vma} and range faults
 * compare ({@code pgmap->owner}), and the callbacks ({@code struct dev_pagemap_ops}).
 */
public final class DevicePagemap {

    /** {@code struct dev_pagemap_ops}. */
    public interface Ops {
        /**
         * {@code migrate_to_ram}: a CPU touched a device-private page of this device. Must migrate at least the
         * faulting page back to RAM (it may move more, the faulting page first); returns when done. Throws
         * {@link BusErrorException} if the device cannot give the data back ({@code VM_FAULT_SIGBUS}).
         */
        void migrateToRam(VmFault fault);

        /** {@code folio_free}: the frame's last reference went away; it is back on the device's free list. */
        void pageFree(long pfn);

        /**
         * {@code folio_free} for {@code n} frames of node {@code nodeId} at once ({@code frames[from..from+n)}, frame
         * indexes), as a batch release frees them; by default one {@link #pageFree} each.
         */
        default void pagesFree(int nodeId, int[] frames, int from, int n) {
            for (int k = from; k < from + n; k++) {
                pageFree(Pfn.of(nodeId, frames[k]));
            }
        }
    }

    private final MemoryType type;
    private final Object owner;
    private final MemoryNode node;
    private final Ops ops;

    DevicePagemap(MemoryType type, Object owner, MemoryNode node, Ops ops) {
        if (!type.isDevice()) {
            throw new IllegalArgumentException("a dev_pagemap describes device memory, not " + type);
        }
        if (owner == null) {
            throw new IllegalArgumentException("a dev_pagemap needs a non-null owner (pgmap->owner)");
        }
        this.type = type;
        this.owner = owner;
        this.node = node;
        this.ops = ops;
    }

    public MemoryType type() {
        return type;
    }

    public Object owner() {
        return owner;
    }

    public MemoryNode node() {
        return node;
    }

    public Ops ops() {
        return ops;
    }

    /** First pfn of the range. */
    public long startPfn() {
        return Pfn.of(node.id(), 0);
    }

    /** One past the last pfn of the range. */
    public long endPfn() {
        return Pfn.of(node.id(), node.frames());
    }
}
