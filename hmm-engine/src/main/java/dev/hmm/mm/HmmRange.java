package dev.hmm.mm;

/**
 * A range to snapshot or fault for a device mirror ({@code struct hmm_range} of {@code hmm_range_fault}). Inputs
 * and outputs share {@link #pfns()}: before the call each slot holds the request flags of its page (combined as
 * {@code (pfns[i] & pfnFlagsMask) | defaultFlags}); after it, the pfn and the output flags.
 *
 * <pre>
 *  63 62 61 60 59 58                                          0
 * +--+--+--+--+--+---------------------------------------------+
 * |V |W |E |P |X |                     pfn                      |
 * +--+--+--+--+--+---------------------------------------------+
 *  V PFN_VALID           the pfn is valid (input: REQ_FAULT, fault the page in if it is not)
 *  W PFN_WRITE           the page may be written (input: REQ_WRITE, fault it writable and mark it dirty)
 *  E PFN_ERROR           the page cannot be accessed (no VMA, PROT_NONE, or a write to a read-only VMA)
 *  P PFN_DEVICE_PRIVATE  the pfn is a device-private page of {@link #devicePrivateOwner()} (no fault: it is "mine")
 *  X PFN_EXCLUSIVE       the pfn is a RAM page held device-exclusive by {@link #devicePrivateOwner()}
 *  output 0              not present, and no fault was asked for
 * </pre>
 */
public final class HmmRange {
    public static final long PFN_VALID = 1L << 63;
    public static final long PFN_WRITE = 1L << 62;
    public static final long PFN_ERROR = 1L << 61;
    public static final long PFN_DEVICE_PRIVATE = 1L << 60;
    public static final long PFN_EXCLUSIVE = 1L << 59;
    public static final long PFN_FLAGS = PFN_VALID | PFN_WRITE | PFN_ERROR | PFN_DEVICE_PRIVATE | PFN_EXCLUSIVE;
    /** {@code HMM_PFN_REQ_FAULT}. */
    public static final long REQ_FAULT = PFN_VALID;
    /** {@code HMM_PFN_REQ_WRITE} (needs REQ_FAULT). */
    public static final long REQ_WRITE = PFN_WRITE;

    /** Outcome of {@link AddressSpace#hmmRangeFault}. */
    public enum Status {
        /** Every slot is filled. */
        OK,
        /** {@code -EBUSY}: the range changed under the walk (a migration was in flight); read the sequence again. */
        BUSY,
        /** {@code -EFAULT}: a page asked to be faulted cannot be; its slot has {@link #PFN_ERROR}. */
        FAULT
    }

    private final long start;
    private final long end;
    private final long[] pfns;
    private final long defaultFlags;
    private final long pfnFlagsMask;
    private final Object devicePrivateOwner;

    /**
     * @param start first byte (page aligned)
     * @param end one past the last byte (page aligned)
     * @param pageSize the address space's page size
     * @param defaultFlags request flags for every page
     * @param pfnFlagsMask which bits of the per-page input slots count
     * @param devicePrivateOwner owner whose device-private and exclusive pages are reported, not faulted
     */
    public HmmRange(long start, long end, int pageSize, long defaultFlags, long pfnFlagsMask,
            Object devicePrivateOwner) {
        if (end <= start || (start & (pageSize - 1)) != 0 || (end & (pageSize - 1)) != 0) {
            throw new IllegalArgumentException(String.format("hmm range needs page-aligned [start, end): [0x%x, 0x%x)",
                    start, end));
        }
        this.start = start;
        this.end = end;
        this.pfns = new long[(int) ((end - start) / pageSize)];
        this.defaultFlags = defaultFlags;
        this.pfnFlagsMask = pfnFlagsMask;
        this.devicePrivateOwner = devicePrivateOwner;
    }

    public long start() {
        return start;
    }

    public long end() {
        return end;
    }

    /** Per-page input requests, then output pfns and flags. */
    public long[] pfns() {
        return pfns;
    }

    public long defaultFlags() {
        return defaultFlags;
    }

    public long pfnFlagsMask() {
        return pfnFlagsMask;
    }

    public Object devicePrivateOwner() {
        return devicePrivateOwner;
    }

    /** The pfn in an output slot. */
    public static long pfn(long slot) {
        return slot & ~PFN_FLAGS;
    }
}
