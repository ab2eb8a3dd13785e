package dev.hmm.mm;

/**
 * A virtual memory area ({@code struct vm_area_struct}): a page-aligned range {@code [start, end)} of one address
 * space with one protection and one backing. Immutable: {@code mprotect} and partial {@code munmap} replace VMAs.
 *
 * <p>Backings: anonymous (no {@code dax}: first touch maps a zeroed RAM frame, holes may be populated by a migration),
 * or a DAX mapping of device memory ({@code dax} set: page {@code i} of the VMA is frame {@code daxFrame + i} of that
 * node, mapped in place, as a device-dax or fsdax mapping maps persistent memory).
 *
 * @param start first byte
 * @param end one past the last byte
 * @param prot protection
 * @param dax the device memory mapped in place, or null for anonymous memory
 * @param daxFrame frame index, in {@code dax}, of the VMA's first page
 */
public record Vma(long start, long end, Prot prot, MemoryNode dax, long daxFrame) {

    public Vma {
        if (end <= start) {
            throw new IllegalArgumentException("empty VMA [" + Long.toHexString(start) + ", " + Long.toHexString(end) + ")");
        }
    }

    Vma(long start, long end, Prot prot) {
        this(start, end, prot, null, 0);
    }

    public boolean contains(long va) {
        return va >= start && va < end;
    }

    public long length() {
        return end - start;
    }

    /** Anonymous memory: holes may be populated by a migration ({@code vma_is_anonymous}). */
    public boolean isAnonymous() {
        return dax == null;
    }

    public boolean isDax() {
        return dax != null;
    }

    /** The DAX frame index mapped at {@code va} (DAX VMAs only). */
    int daxFrameAt(long va, int pageShift) {
        return (int) (daxFrame + ((va - start) >>> pageShift));
    }

    Vma withRange(long newStart, long newEnd, int pageShift) {
        long frame = dax == null ? 0 : daxFrame + ((newStart - start) >>> pageShift);
        return new Vma(newStart, newEnd, prot, dax, frame);
    }

    Vma withProt(Prot newProt) {
        return new Vma(start, end, newProt, dax, daxFrame);
    }

    @Override
    public String toString() {
        return String.format("[0x%x, 0x%x) %s %s", start, end, prot,
                dax == null ? "anon" : "dax " + dax.name() + "@" + daxFrame);
    }
}
