package dev.hmm.mm;

/**
 * How one page ended a migration: {@link #MIGRATED}, or the reason it did not move. Every page of every
 * {@code migrate_vma} call ends with exactly one of these; they are counted in metrics and reports under {@link #key()}.
 */
public enum MigrateResult {
    /** The page now lives on the destination node (a hole was populated there). */
    MIGRATED("migrated"),
    /** Nothing to migrate: no VMA at that address, or a hole that cannot be populated (not anonymous, or not selected). */
    NOT_PRESENT("notPresent"),
    /** A long-term pin holds the page ({@code migrate_vma_check_page}: an extra reference). */
    PINNED("pinned"),
    /** A device page of another owner ({@code pgmap->owner} differs): only its owner may collect it. */
    OTHER_OWNER("otherOwner"),
    /** The page already lives on the destination node. */
    ALREADY_ON_TARGET("alreadyOnTarget"),
    /** Raced: another migration, fault or unmap changed the entry or held the page ({@code folio_trylock} lost). */
    BUSY("busy"),
    /** No free frame on the destination device, and none could be reclaimed in time. */
    OUT_OF_DEVICE_MEMORY("outOfDeviceMemory"),
    /** No free RAM frame for a page coming back from a device. */
    OUT_OF_RAM("outOfRam"),
    /** The copy engine failed this page; the source was restored and the destination discarded. */
    COPY_FAILED("copyFailed"),
    /** The page lives in memory that never moves (persistent memory, {@code MEMORY_DEVICE_FS_DAX}). */
    UNMOVABLE("unmovable"),
    /** The page's memory kind was not in the selection mask of the call ({@code MIGRATE_VMA_SELECT_*}). */
    NOT_SELECTED("notSelected");

    private static final MigrateResult[] VALUES = values();
    private final String key;

    MigrateResult(String key) {
        this.key = key;
    }

    /** The camelCase name used in reports and metric tags. */
    public String key() {
        return key;
    }

    static MigrateResult of(int ordinal) {
        return VALUES[ordinal];
    }
}
