package dev.hmm.mm;

/**
 * The engine's {@code SIGSEGV}: an access to an address with no VMA, or one its protection forbids. The
 * {@code -EFAULT} / {@code -EPERM} of a device access in {@code lib/test_hmm.c}.
 */
public final class SegmentationFaultException extends RuntimeException {
    private final long address;

    public SegmentationFaultException(long address, String why) {
        super(String.format("segmentation fault at 0x%x: %s", address, why));
        this.address = address;
    }

    public long address() {
        return address;
    }
}
