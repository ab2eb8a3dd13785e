package dev.hmm.mm;

/**
 * A virtual memory area ({@code struct vm_area_struct}): a page-aligned range {@code [start, end)} of one address
 * space with one protection and one backing. Immutable: {@code mprotect} and partial {@code munmap} replace VMAs.
 *
 * <p>Backings:
 * <ul>
 * <li>anonymous (no {@code dax}, no {@code file}): first touch maps a zeroed RAM frame; holes may be populated by a
 *     migration;</li>
 * <li>DAX ({@code dax} set): page {@code i} is frame {@code daxFrame + i} of that node, mapped in place (device-dax or
 *     fsdax over persistent memory);</li>
 * <li>a file ({@code file} set): page {@code i} is page {@code fileIndex + i} of the file, through its page cache;
 *     {@code shared} writes reach the file (MAP_SHARED), private writes copy the page first and never do
 *     (MAP_PRIVATE).</li>
 * </ul>
 *
 * @param start first byte
 * @param end one past the last byte
 * @param prot protection
 * @param dax the device memory mapped in place, or null
 * @param daxFrame frame index, in {@code dax}, of the VMA's first page
 * @param file the file mapped, or null
 * @param fileIndex page index, in {@code file}, of the VMA's first page ({@code vm_pgoff})
 * @param shared MAP_SHARED (true) or MAP_PRIVATE (false); meaningful for files
 */
public record Vma(long start, long end, Prot prot, MemoryNode dax, long daxFrame, MappedFile file, long fileIndex,
        boolean shared) {

    public Vma {
        if (end <= start) {
            throw new IllegalArgumentException("empty VMA [" + Long.toHexString(start) + ", " + Long.toHexString(end) + ")");
        }
    }

    Vma(long start, long end, Prot prot) {
        this(start, end, prot, null, 0, null, 0, false);
    }

    public boolean contains(long va) {
        return va >= start && va < end;
    }

    public long length() {
        return end - start;
    }

    /** Anonymous memory: holes may be populated by a migration ({@code vma_is_anonymous}). */
    public boolean isAnonymous() {
        return dax == null && file == null;
    }

    public boolean isDax() {
        return dax != null;
    }

    public boolean isFile() {
        return file != null;
    }

    /** The DAX frame index mapped at {@code va} (DAX VMAs only). */
    int daxFrameAt(long va, int pageShift) {
        return (int) (daxFrame + ((va - start) >>> pageShift));
    }

    /** The file page index mapped at {@code va} (file VMAs only). */
    long fileIndexAt(long va, int pageShift) {
        return fileIndex + ((va - start) >>> pageShift);
    }

    /** The address of file page {@code index} in this VMA, or -1 if it maps no such page. */
    long addressOf(long index, int pageShift) {
        long va = start + ((index - fileIndex) << pageShift);
        return index >= fileIndex && va < end ? va : -1;
    }

    Vma withRange(long newStart, long newEnd, int pageShift) {
        long pages = (newStart - start) >>> pageShift;
        return new Vma(newStart, newEnd, prot, dax, dax == null ? 0 : daxFrame + pages, file,
                file == null ? 0 : fileIndex + pages, shared);
    }

    Vma withProt(Prot newProt) {
        return new Vma(start, end, newProt, dax, daxFrame, file, fileIndex, shared);
    }

    @Override
    public String toString() {
        String backing = dax != null ? "dax " + dax.name() + "@" + daxFrame
                : file != null ? (shared ? "shared " : "private ") + file.path().getFileName() + "@" + fileIndex
                : "anon";
        return String.format("[0x%x, 0x%x) %s %s", start, end, prot, backing);
    }
}
