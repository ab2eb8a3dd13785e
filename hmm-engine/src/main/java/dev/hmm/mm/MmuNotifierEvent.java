package dev.hmm.mm;

/** Why a range of CPU entries is being invalidated ({@code enum mmu_notifier_event}). */
public enum MmuNotifierEvent {
    /** {@code MMU_NOTIFY_UNMAP}: munmap. */
    UNMAP,
    /** {@code MMU_NOTIFY_MIGRATE}: migrate_vma collect / migrate_device_range. */
    MIGRATE,
    /** {@code MMU_NOTIFY_PROTECTION_VMA}: mprotect downgrade. */
    PROTECTION,
    /** {@code MMU_NOTIFY_CLEAR}: entries cleared for another reason (writeback write-protect, truncate, reclaim). */
    CLEAR,
    /** {@code MMU_NOTIFY_EXCLUSIVE}: a device takes exclusive access (make_device_exclusive). */
    EXCLUSIVE,
    /** A device-exclusive entry is revoked because the CPU (or another device) touched the page. */
    EXCLUSIVE_REVOKE,
    /** {@code MMU_NOTIFY_RELEASE}: the address space is torn down. */
    RELEASE
}
