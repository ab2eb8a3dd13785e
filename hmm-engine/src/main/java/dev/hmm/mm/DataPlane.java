package dev.hmm.mm;

/**
 * The two data planes behind one code path. Every page-table, state-machine and migration step runs the same in both;
 * only the byte copies differ.
 */
public enum DataPlane {
    /** Every frame is backed by off-heap memory and bytes are really copied: data can be checked byte for byte. */
    REAL,
    /**
     * No backing bytes: metadata only, for policy simulation at footprints far beyond this machine's RAM. Byte reads
     * and writes are refused; {@code touch} accesses work.
     */
    METADATA
}
