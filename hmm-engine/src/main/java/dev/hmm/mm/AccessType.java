package dev.hmm.mm;

/**
 * Kinds of access, ordered by intrusiveness as UVM orders fault access types
 * ({@code UVM_FAULT_ACCESS_TYPE_PREFETCH < READ < WRITE < ATOMIC}): when faults on one page are coalesced the
 * strongest one is kept.
 */
public enum AccessType {
    PREFETCH,
    READ,
    WRITE,
    ATOMIC;

    /** Whether the access modifies the page (and needs a writable mapping). */
    public boolean isWrite() {
        return this == WRITE || this == ATOMIC;
    }

    public AccessType strongest(AccessType other) {
        return other.ordinal() > ordinal() ? other : this;
    }
}
