package dev.hmm.mm;

/**
 * {@code VM_FAULT_OOM}: a fault needed a free frame on a node and none was left. Thrown to the accessor; the page
 * table is unchanged.
 */
public final class OutOfFramesException extends RuntimeException {
    public OutOfFramesException(String node, long address) {
        super(String.format("out of memory on %s while faulting 0x%x: no free frame", node, address));
    }
}
