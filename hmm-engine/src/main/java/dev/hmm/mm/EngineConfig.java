package dev.hmm.mm;

/**
 * Immutable engine configuration.
 *
 * @param pageSize the page size of every node and address space: 4 KiB, 64 KiB or 2 MiB
 * @param dataPlane {@link DataPlane#REAL} (bytes copied) or {@link DataPlane#METADATA} (no bytes)
 * @param ramBytes capacity of the system-RAM node
 * @param migrateBatchPages pages per {@code migrate_vma} call and per copy-engine batch (a range is migrated in
 *     chunks of this many pages; 512 = one 2 MiB UVM VA block at 4 KiB pages)
 */
public record EngineConfig(int pageSize, DataPlane dataPlane, long ramBytes, int migrateBatchPages) {
    public static final int PAGE_4K = 4096;
    public static final int PAGE_64K = 64 * 1024;
    public static final int PAGE_2M = 2 * 1024 * 1024;
    public static final int DEFAULT_BATCH = 512;

    public EngineConfig {
        if (pageSize != PAGE_4K && pageSize != PAGE_64K && pageSize != PAGE_2M) {
            throw new IllegalArgumentException("page size must be 4KiB, 64KiB or 2MiB: pageSize=" + pageSize);
        }
        if (dataPlane == null) {
            throw new IllegalArgumentException("dataPlane must be REAL or METADATA");
        }
        if (ramBytes < pageSize || ramBytes % pageSize != 0) {
            throw new IllegalArgumentException("RAM must be a positive multiple of the page size: ramBytes=" + ramBytes
                    + ", pageSize=" + pageSize);
        }
        if (ramBytes / pageSize > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("RAM holds more than 2^31 frames of " + pageSize + " bytes: ramBytes="
                    + ramBytes);
        }
        if (migrateBatchPages < 1 || migrateBatchPages > 1 << 20) {
            throw new IllegalArgumentException("migrate batch must be 1..1048576 pages: migrateBatchPages="
                    + migrateBatchPages);
        }
    }

    /** 4 KiB pages, REAL data, the given RAM, batches of 512. */
    public static EngineConfig of(long ramBytes) {
        return new EngineConfig(PAGE_4K, DataPlane.REAL, ramBytes, DEFAULT_BATCH);
    }

    public EngineConfig withPageSize(int size) {
        return new EngineConfig(size, dataPlane, ramBytes, migrateBatchPages);
    }

    public EngineConfig withDataPlane(DataPlane plane) {
        return new EngineConfig(pageSize, plane, ramBytes, migrateBatchPages);
    }

    public EngineConfig withRamBytes(long bytes) {
        return new EngineConfig(pageSize, dataPlane, bytes, migrateBatchPages);
    }

    public EngineConfig withMigrateBatchPages(int pages) {
        return new EngineConfig(pageSize, dataPlane, ramBytes, pages);
    }

    public int pageShift() {
        return Integer.numberOfTrailingZeros(pageSize);
    }
}
