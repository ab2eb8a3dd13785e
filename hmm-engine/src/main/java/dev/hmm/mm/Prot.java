package dev.hmm.mm;

/** Protection of a VMA ({@code PROT_NONE}, {@code PROT_READ}, {@code PROT_READ|PROT_WRITE}). */
public enum Prot {
    NONE(false, false),
    READ(true, false),
    READ_WRITE(true, true);

    private final boolean read;
    private final boolean write;

    Prot(boolean read, boolean write) {
        this.read = read;
        this.write = write;
    }

    public boolean canRead() {
        return read;
    }

    public boolean canWrite() {
        return write;
    }

    /** Whether an access of this kind is allowed. */
    public boolean allows(boolean isWrite) {
        return isWrite ? write : read;
    }
}
