package dev.hmm.mm;

/**
 * The engine's {@code SIGBUS} ({@code VM_FAULT_SIGBUS}): the address is mapped but its data cannot be delivered, for
 * example a device could not copy a device-private page back to RAM, or the page lies beyond the end of its file.
 */
public final class BusErrorException extends RuntimeException {
    private final long address;

    public BusErrorException(long address, String why) {
        super(String.format("bus error at 0x%x: %s", address, why));
        this.address = address;
    }

    public long address() {
        return address;
    }
}
