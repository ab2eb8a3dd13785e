package dev.hmm.mm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A file opened for mapping, with its page cache ({@code struct address_space} of an inode): the pages of the file
 * held in frames, RAM or device memory, keyed by page index. Reads come from the file on first touch; dirty pages go
 * back on {@link #sync}, {@link AddressSpace#msync}, unmap, eviction and close.
 *
 * <h2>Page cache entries</h2>
 * A radix table of {@link Pte} words by page index: present (a RAM or device-coherent frame), device-private (a
 * device frame), or a migration entry while the page is locked. The frame's {@code PG_dirty} ({@link FrameTable})
 * says whether the file is older than the page; its reverse map is (file, index).
 *
 * <h2>Locking a page (no lock objects)</h2>
 * Whoever moves, writes back, drops or truncates a page does, in this order:
 * <ol>
 * <li>CAS the cache entry to a migration entry: faults and other lockers see it and wait ({@code folio_lock});</li>
 * <li>isolate the frame (needs no pins) when it will leave its frame;</li>
 * <li>zap every mapping's entry for the page (mirrors first), then one TLB flush: nobody can use the page any more.</li>
 * </ol>
 * A fault maps a page the other way round: take a transient reference on the frame, re-read the cache entry, install
 * its entry, drop the reference. Either the fault referenced the frame before the isolation (which then fails and the
 * locker backs off) or after the cache CAS (and the re-read sends it back to wait), so a mapping can never appear on
 * a page that is leaving its frame. A write to a
 * clean page faults (shared file pages are mapped read-only until dirtied), marks the page dirty, and only then becomes
 * writable; writeback zaps the mappings before it clears the dirty bit, so no write is lost between the two.
 */
public final class MappedFile implements AutoCloseable {
    private final HmmEngine engine;
    private final int id;
    private final Path path;
    private final Object fileKey;
    private final FileChannel channel;
    private final boolean writable;
    final PageTable cache;
    private final int pageShift;
    private final int pageSize;
    private volatile long size;
    /** Orders our own size changes against {@link #checkStillThere}'s comparison with the size on disk. */
    private final Object sizeLock = new Object();
    /** Every VMA mapping this file ({@code i_mmap}), copy-on-write. */
    private volatile Mapping[] mappings = new Mapping[0];
    private long shrinkCursor; // guarded by this
    private volatile boolean closed;

    record Mapping(AddressSpace mm, Vma vma) {
    }

    MappedFile(HmmEngine engine, int id, Path path, boolean writable) throws IOException {
        this.engine = engine;
        this.id = id;
        this.path = path;
        this.writable = writable;
        this.channel = writable ? FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)
                : FileChannel.open(path, StandardOpenOption.READ);
        this.fileKey = Files.readAttributes(path, BasicFileAttributes.class).fileKey();
        this.size = channel.size();
        this.pageShift = engine.config().pageShift();
        this.pageSize = engine.config().pageSize();
        this.cache = new PageTable(pageShift);
    }

    public int id() {
        return id;
    }

    public Path path() {
        return path;
    }

    public boolean writable() {
        return writable;
    }

    /** The file's size as the engine knows it (set at open, changed by {@link #truncate}). */
    public long size() {
        return size;
    }

    /** Pages of the file (the last may be partial). */
    public long pages() {
        return (size + pageSize - 1) >>> pageShift;
    }

    // ------------------------------------------------------------------ mappings (i_mmap)

    synchronized void setMappings(AddressSpace mm, List<Vma> vmas) {
        List<Mapping> next = new ArrayList<>();
        for (Mapping m : mappings) {
            if (m.mm() != mm) {
                next.add(m);
            }
        }
        for (Vma v : vmas) {
            next.add(new Mapping(mm, v));
        }
        mappings = next.toArray(new Mapping[0]);
    }

    public boolean isMapped() {
        return mappings.length > 0;
    }

    // ------------------------------------------------------------------ the fault side

    /** The cache entry of page {@code index} (acquire). */
    long entry(long index) {
        return cache.laPte(index);
    }

    /**
     * {@code filemap_fault}: the cache entry of page {@code index}, reading the page from the file into a RAM frame if
     * it is not cached. Waits for a locked page.
     *
     * @throws BusErrorException beyond the end of the file (the engine's SIGBUS), or if the file shrank under us
     */
    long findOrRead(long index, long va) {
        for (;;) {
            if (index >= pages()) {
                throw new BusErrorException(va, "page " + index + " is beyond the end of " + path + " (" + size
                        + " bytes)");
            }
            long[] leaf = cache.leafOrCreate(index);
            int s = PageTable.slot(index);
            long e = PageTable.laPte(leaf, s);
            int kind = Pte.kind(e);
            if (kind == Pte.KIND_MIGRATION) {
                engine.cpuFaults.migrationEntryWait(leaf, s, e);
                continue;
            }
            if (kind != Pte.KIND_NONE) {
                return e;
            }
            MemoryNode ram = engine.ram();
            int frame = engine.allocateRam(va);
            try {
                if (ram.store.hasData()) {
                    readPage(index, ram.memory.asSlice(ram.offset(frame), pageSize), va);
                }
            } catch (RuntimeException ex) {
                ram.releaseOne(frame, PageState.ALLOCATED);
                throw ex;
            }
            ram.table.soRmap(frame, Rmap.file(id, index));
            ram.table.transition(frame, PageState.ALLOCATED, PageState.MAPPED);
            long entry = Pte.present(Pfn.of(ram.id(), frame), 0);
            if (PageTable.casPte(leaf, s, Pte.NONE, entry)) {
                engine.stats.fileReadPages.increment();
                return entry;
            }
            ram.releaseOne(frame, PageState.MAPPED); // a racing fault read it first
        }
    }

    /**
     * Installs the entry of page {@code index} of this file at {@code va} of {@code mm} (where the entry is none), by
     * the pin protocol of the class comment. Returns false if the caller must retry (the page is locked or moved).
     */
    boolean install(AddressSpace mm, Vma vma, long va, long index, long cacheEntry) {
        long pfn = Pte.pfn(cacheEntry);
        MemoryNode node = engine.node(Pfn.node(pfn));
        int frame = Pfn.index(pfn);
        if (!node.table.tryRef(frame)) {
            return false; // isolated: being moved or dropped
        }
        try {
            if (entry(index) != cacheEntry) {
                return false;
            }
            long vpn = va >>> pageShift;
            long[] leaf = mm.pageTable.leafOrCreate(vpn);
            int s = PageTable.slot(vpn);
            long mapped = mappingEntry(vma, node, pfn);
            if (!PageTable.casPte(leaf, s, Pte.NONE, mapped)) {
                return true; // someone else mapped it first
            }
            if (entry(index) != cacheEntry) {
                // locked after our check (writeback does not isolate, so our reference did not stop it): the
                // locker's unmapAll may have run before our entry appeared; take it back ourselves. One of the two
                // volatile orders holds: either the locker's zap sees our entry, or we see its lock here. The entry
                // was read-only, so nothing was written through it.
                PageTable.casPte(leaf, s, mapped, Pte.NONE);
                return false;
            }
            return true;
        } finally {
            node.table.unref(frame);
        }
    }

    /**
     * The entry a mapping gets for a cached frame: always read-only. Writes take the write-protect fault that marks
     * the page dirty before it makes the entry writable; so an entry installed just as writeback locks the page (which
     * does not isolate it, so the installer's reference does not stop it) can only be read through until it is gone.
     */
    long mappingEntry(Vma vma, MemoryNode node, long pfn) {
        long flags = Pte.ACCESSED | (vma.prot().canRead() ? 0 : Pte.PROTNONE);
        return MigrateVma.entryFor(node, pfn, flags);
    }

    // ------------------------------------------------------------------ locking a page

    /** Step 1: CAS the cache entry to a migration entry. False if it changed (or is locked already). */
    boolean lock(long index, long expect) {
        long[] leaf = cache.leaf(index);
        return leaf != null && Pte.kind(expect) != Pte.KIND_MIGRATION
                && PageTable.casPte(leaf, PageTable.slot(index), expect, Pte.migration(Pte.pfn(expect), 0));
    }

    /** Unlocks page {@code index}: the cache entry becomes {@code entry} (or none), sleepers are woken. */
    void unlock(long index, long lockedPfn, long entry) {
        long[] leaf = cache.leaf(index);
        int s = PageTable.slot(index);
        long mig = PageTable.laPte(leaf, s);
        if (!Pte.isMigration(mig) || Pte.pfn(mig) != lockedPfn
                || !PageTable.casPte(leaf, s, mig, entry)) {
            throw new IllegalStateException("page cache entry " + index + " of " + path + " changed under its lock: "
                    + Pte.toString(mig));
        }
        engine.waits.wake(lockedPfn);
    }

    /**
     * Step 3: zaps every mapping's entry for page {@code index} (mirrors invalidated first; the ranges stay open until
     * the caller's TLB flush). With {@code evenCows}, private copies of the page are zapped too and their frames
     * collected in {@code cows} (truncation); otherwise only entries naming {@code pfn} go.
     */
    void unmapAll(long index, long pfn, List<MmuNotifierRange> ranges, MmuNotifierEvent event, boolean evenCows,
            FrameRelease cows) {
        for (Mapping m : mappings) {
            long va = m.vma().addressOf(index, pageShift);
            if (va < 0) {
                continue;
            }
            AddressSpace mm = m.mm();
            ranges.add(mm.invalidateRangeStart(va, va + pageSize, event, null));
            long vpn = va >>> pageShift;
            long[] leaf = mm.pageTable.leaf(vpn);
            if (leaf == null) {
                continue;
            }
            int s = PageTable.slot(vpn);
            for (;;) {
                long pte = PageTable.laPte(leaf, s);
                int k = Pte.kind(pte);
                if (k == Pte.KIND_NONE) {
                    break;
                }
                if (k == Pte.KIND_MIGRATION) {
                    if (!evenCows && Pte.pfn(pte) != pfn) {
                        break; // a private copy under migration: not ours
                    }
                    // ours: an anonymous-path collector that raced us to the entry; it cannot isolate the frame
                    // (we hold it), so it puts the entry back: wait for that, then zap it
                    engine.cpuFaults.migrationEntryWait(leaf, s, pte);
                    continue;
                }
                boolean ours = Pte.pfn(pte) == pfn;
                if (!ours && !evenCows) {
                    break;
                }
                if (PageTable.casPte(leaf, s, pte, Pte.NONE)) {
                    if (!ours) {
                        cows.add(Pte.pfn(pte));
                    }
                    break;
                }
            }
        }
    }

    static void closeAll(List<MmuNotifierRange> ranges) {
        for (MmuNotifierRange r : ranges) {
            r.close();
        }
        ranges.clear();
    }

    // ------------------------------------------------------------------ file I/O

    private void readPage(long index, MemorySegment frame, long va) {
        long pos = index << pageShift;
        ByteBuffer buf = frame.asByteBuffer();
        try {
            while (buf.hasRemaining()) {
                int n = channel.read(buf, pos + buf.position());
                if (n < 0) {
                    break;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("reading page " + index + " of " + path, e);
        }
        int got = buf.position();
        if (got == 0 && pos < size) {
            throw new BusErrorException(va, path + " was truncated behind the engine's back: page " + index
                    + " is beyond its end (" + currentSizeQuietly() + " bytes now, " + size + " expected)");
        }
        if (got < pageSize) {
            frame.asSlice(got).fill((byte) 0);
        }
    }

    private void writePage(long index, MemorySegment frame) throws IOException {
        long pos = index << pageShift;
        long len = Math.min(pageSize, size - pos);
        if (len <= 0) {
            return;
        }
        ByteBuffer buf = frame.asSlice(0, len).asByteBuffer();
        while (buf.hasRemaining()) {
            channel.write(buf, pos + buf.position());
        }
    }

    private long currentSizeQuietly() {
        try {
            return channel.size();
        } catch (IOException e) {
            return -1;
        }
    }

    /** Copies bytes of page {@code index} from its cached frame, or from the file if it is not cached (no fault). */
    void peek(long index, int off, byte[] dst, int dstOff, int n) {
        long e = entry(index);
        if (Pte.kind(e) == Pte.KIND_PRESENT || Pte.kind(e) == Pte.KIND_DEVICE_PRIVATE || Pte.isMigration(e)) {
            long pfn = Pte.pfn(e);
            MemoryNode node = engine.node(Pfn.node(pfn));
            node.read(node.offset(Pfn.index(pfn)) + off, MemorySegment.ofArray(dst), dstOff, n);
            return;
        }
        Arrays.fill(dst, dstOff, dstOff + n, (byte) 0);
        try {
            channel.read(ByteBuffer.wrap(dst, dstOff, n), (index << pageShift) + off);
        } catch (IOException ex) {
            throw new UncheckedIOException("reading page " + index + " of " + path, ex);
        }
    }

    // ------------------------------------------------------------------ writeback

    /**
     * {@code fsync}: writes every dirty page of the file back and forces it to the device.
     *
     * @return pages written
     * @throws IOException if the file cannot be written, or was deleted or replaced behind the engine's back (the
     *     pages were still written to the open file, which nobody can see any more: reported, not silent)
     */
    public int sync() throws IOException {
        return writeback(0, Long.MAX_VALUE);
    }

    /**
     * Writes back the dirty pages of {@code [fromIndex, toIndex)} ({@code msync} / {@code filemap_write_and_wait_range}),
     * from RAM directly, from device memory through the device's copy engine (into a RAM bounce frame).
     *
     * @return pages written
     */
    int writeback(long fromIndex, long toIndex) throws IOException {
        checkOpen();
        long onDisk = sizeOnDiskIfShorter(); // before any write re-extends it
        List<long[]> locked = new ArrayList<>(); // {index, entry}
        List<MmuNotifierRange> ranges = new ArrayList<>();
        int written = 0;
        long end = Math.min(toIndex, cache.maxVpn());
        for (long index = fromIndex; index < end; index++) {
            long[] leaf = cache.leaf(index);
            if (leaf == null) {
                index |= PageTable.SLOT_MASK;
                continue;
            }
            int slot = PageTable.slot(index);
            for (;;) {
                long e = PageTable.laPte(leaf, slot);
                if (Pte.isMigration(e)) {
                    // never sleep holding page locks (two writebacks would wait on each other): write what we hold
                    written += writeBatch(locked, ranges);
                    engine.cpuFaults.migrationEntryWait(leaf, slot, e);
                    continue;
                }
                if (!dirtyPage(e)) {
                    break;
                }
                if (lock(index, e)) {
                    unmapAll(index, Pte.pfn(e), ranges, MmuNotifierEvent.CLEAR, false, null);
                    locked.add(new long[] {index, e});
                    if (locked.size() >= 512) {
                        written += writeBatch(locked, ranges);
                    }
                    break;
                }
            }
        }
        written += writeBatch(locked, ranges);
        if (written > 0 && writable) {
            channel.force(false);
        }
        checkStillThere();
        if (onDisk >= 0) {
            throw new IOException(path + " was truncated behind the engine's back to " + onDisk + " bytes (" + size
                    + " expected): " + written + " dirty pages were written back, extending it again");
        }
        return written;
    }

    /** Flushes the TLB once for the locked pages, writes them, unlocks them. */
    private int writeBatch(List<long[]> locked, List<MmuNotifierRange> ranges) throws IOException {
        if (locked.isEmpty()) {
            closeAll(ranges);
            return 0;
        }
        try {
            engine.tlb.flush(); // no writer can still be inside the pages
        } finally {
            closeAll(ranges);
        }
        try {
            return writeLocked(locked);
        } finally {
            for (long[] l : locked) {
                unlock(l[0], Pte.pfn(l[1]), l[1]);
            }
            locked.clear();
        }
    }

    private boolean dirtyPage(long e) {
        int k = Pte.kind(e);
        if (k != Pte.KIND_PRESENT && k != Pte.KIND_DEVICE_PRIVATE) {
            return false;
        }
        long pfn = Pte.pfn(e);
        return engine.node(Pfn.node(pfn)).table.testFlag(Pfn.index(pfn), FrameTable.FLAG_DIRTY);
    }

    /** Writes locked, unmapped pages; clears their dirty bits (set again for a page that failed). */
    private int writeLocked(List<long[]> locked) throws IOException {
        if (locked.isEmpty()) {
            return 0;
        }
        if (!writable) {
            throw new IOException(path + " is open read-only: " + locked.size() + " dirty pages cannot be written");
        }
        MemoryNode ram = engine.ram();
        int written = 0;
        for (long[] l : locked) {
            long pfn = Pte.pfn(l[1]);
            MemoryNode node = engine.node(Pfn.node(pfn));
            int frame = Pfn.index(pfn);
            node.table.updateFlag(frame, FrameTable.FLAG_DIRTY, false);
            try {
                if (ram.store.hasData()) {
                    if (node == ram) {
                        writePage(l[0], ram.memory.asSlice(ram.offset(frame), pageSize));
                    } else {
                        writeFromDevice(l[0], node, frame);
                    }
                }
            } catch (IOException | RuntimeException e) {
                node.table.updateFlag(frame, FrameTable.FLAG_DIRTY, true); // still dirty: nothing is lost silently
                throw e instanceof IOException io ? io
                        : new IOException("writing back page " + l[0] + " of " + path + ": " + e.getMessage(), e);
            }
            written++;
            engine.stats.writebackPages.increment();
        }
        return written;
    }

    /** Device memory goes through its device's copy engine into a RAM bounce frame, then to the file. */
    private void writeFromDevice(long index, MemoryNode node, int frame) throws IOException {
        MemoryNode ram = engine.ram();
        int bounce = engine.allocateRam(index << pageShift);
        try {
            CopyBatch copy = new CopyBatch(1);
            copy.reset(node.store, ram.store);
            copy.add(frame, bounce);
            Device owner = engine.deviceOf(node);
            owner.copyEngine().copy(copy);
            if (copy.failures() > 0) {
                throw new IOException("device " + owner.name() + " could not copy page " + index + " of " + path
                        + " back for writeback");
            }
            writePage(index, ram.memory.asSlice(ram.offset(bounce), pageSize));
        } finally {
            ram.releaseOne(bounce, PageState.ALLOCATED);
        }
    }

    /** The file's size on disk if someone else made it shorter than the engine's size, else -1. */
    private long sizeOnDiskIfShorter() {
        synchronized (sizeLock) {
            long now = currentSizeQuietly();
            return now >= 0 && now < size ? now : -1;
        }
    }

    /** Reports a file deleted or replaced behind the engine's back: its writes went to an invisible inode. */
    private void checkStillThere() throws IOException {
        Object now;
        try {
            now = Files.readAttributes(path, BasicFileAttributes.class).fileKey();
        } catch (IOException e) {
            throw new IOException(path + " was deleted during the run: its written-back pages went to a file nobody "
                    + "can open any more", e);
        }
        if (fileKey != null && !fileKey.equals(now)) {
            throw new IOException(path + " was replaced during the run: written-back pages went to the old file");
        }
    }

    // ------------------------------------------------------------------ dropping pages

    /**
     * Drops a locked, isolated, unmapped page: writes it back first if dirty, then frees its frame and empties its
     * cache slot. Used by eviction (device frames, through the LRU surrogate) and RAM shrinking. Returns false (and
     * leaves the page in place, dirty) if the writeback failed.
     */
    boolean dropLocked(long index, long pfn) {
        MemoryNode node = engine.node(Pfn.node(pfn));
        int frame = Pfn.index(pfn);
        boolean dirty = node.table.testFlag(frame, FrameTable.FLAG_DIRTY);
        if (dirty) {
            try {
                writeLocked(List.<long[]>of(new long[] {index, Pte.present(pfn, 0)}));
            } catch (IOException e) {
                engine.stats.writebackErrors.increment();
                return false;
            }
        } else {
            engine.stats.droppedCleanPages.increment();
        }
        return true;
    }

    /**
     * Frees clean (or written-back) RAM pages of this file until {@code want} are free or a full sweep found none:
     * page-cache reclaim under RAM pressure.
     *
     * @return frames freed
     */
    synchronized int shrink(int want) {
        int freed = 0;
        long pages = Math.min(pages(), cache.maxVpn());
        for (long n = 0; n < pages && freed < want; n++) {
            long index = shrinkCursor++ % Math.max(1, pages);
            long e = entry(index);
            if (!Pte.isPresent(e) || Pfn.node(Pte.pfn(e)) != 0) {
                continue;
            }
            long pfn = Pte.pfn(e);
            MemoryNode ram = engine.ram();
            if (ram.table.pins(Pfn.index(pfn)) > 0 || !lock(index, e)) {
                continue;
            }
            if (ram.table.tryIsolate(Pfn.index(pfn)) != FrameTable.ISOLATED) {
                unlock(index, pfn, e);
                continue;
            }
            List<MmuNotifierRange> ranges = new ArrayList<>();
            try {
                unmapAll(index, pfn, ranges, MmuNotifierEvent.CLEAR, false, null);
                engine.tlb.flush();
            } finally {
                closeAll(ranges);
            }
            if (!dropLocked(index, pfn)) {
                ram.table.transition(Pfn.index(pfn), PageState.ISOLATED, PageState.MAPPED);
                unlock(index, pfn, e);
                continue;
            }
            unlock(index, pfn, Pte.NONE);
            ram.releaseOne(Pfn.index(pfn), PageState.ISOLATED);
            freed++;
        }
        return freed;
    }

    // ------------------------------------------------------------------ truncate

    /**
     * Truncates (or extends) the file to {@code newSize} bytes ({@code truncate_setsize} + {@code truncate_pagecache}):
     * pages beyond the new end are invalidated everywhere (mappings, mirrors, private copies, device memory) and
     * dropped without writeback; later touches beyond the end raise {@link BusErrorException}. Waits for pages locked
     * by migrations or writeback.
     */
    public void truncate(long newSize) throws IOException {
        checkOpen();
        if (newSize < 0) {
            throw new IllegalArgumentException("file size must not be negative: newSize=" + newSize);
        }
        if (!writable) {
            throw new IOException(path + " is open read-only and cannot be truncated");
        }
        long oldPages = pages();
        if (newSize < size) {
            synchronized (sizeLock) {
                size = newSize; // new faults beyond the end fail from here on
            }
        }
        long newPages = pages();
        for (long index = newPages; index < oldPages; index++) {
            removeForTruncate(index);
        }
        synchronized (sizeLock) {
            if (newSize < channel.size()) {
                channel.truncate(newSize);
            } else {
                channel.write(ByteBuffer.allocate(1), Math.max(0, newSize - 1)); // extend with a hole
            }
            size = newSize;
        }
        if ((newSize & (pageSize - 1)) != 0) {
            zeroTail(newPages - 1, (int) (newSize & (pageSize - 1)));
        }
    }

    private void removeForTruncate(long index) {
        for (;;) {
            long[] leaf = cache.leaf(index);
            int s = PageTable.slot(index);
            long e = leaf == null ? Pte.NONE : PageTable.laPte(leaf, s);
            List<MmuNotifierRange> ranges = new ArrayList<>();
            FrameRelease cows = new FrameRelease(engine);
            if (Pte.isNone(e)) {
                try {
                    unmapAll(index, Pfn.NONE, ranges, MmuNotifierEvent.UNMAP, true, cows); // private copies too
                    engine.tlb.flush();
                } finally {
                    closeAll(ranges);
                }
                cows.releaseAll(PageState.MAPPED);
                return;
            }
            if (Pte.isMigration(e)) {
                engine.cpuFaults.migrationEntryWait(leaf, s, e);
                continue;
            }
            long pfn = Pte.pfn(e);
            MemoryNode node = engine.node(Pfn.node(pfn));
            if (!lock(index, e)) {
                continue;
            }
            if (node.table.tryIsolate(Pfn.index(pfn)) != FrameTable.ISOLATED) {
                unlock(index, pfn, e); // a fault holds it for a moment
                Thread.onSpinWait();
                continue;
            }
            try {
                unmapAll(index, pfn, ranges, MmuNotifierEvent.UNMAP, true, cows);
                engine.tlb.flush();
            } finally {
                closeAll(ranges);
            }
            unlock(index, pfn, Pte.NONE);
            LruEvents lru = new LruEvents();
            lru.remove(node, Pfn.index(pfn));
            lru.publish();
            node.releaseOne(Pfn.index(pfn), PageState.ISOLATED);
            cows.releaseAll(PageState.MAPPED);
            engine.stats.truncatedPages.increment();
            return;
        }
    }

    /** Zeroes the bytes of the (cached, RAM) last page beyond a new end that is not page aligned. */
    private void zeroTail(long index, int from) {
        long e = entry(index);
        if (Pte.isPresent(e) && Pfn.node(Pte.pfn(e)) == 0 && engine.ram().store.hasData()) {
            MemoryNode ram = engine.ram();
            ram.memory.asSlice(ram.offset(Pfn.index(Pte.pfn(e))) + from, pageSize - from).fill((byte) 0);
        }
    }

    // ------------------------------------------------------------------ close

    /**
     * Writes every dirty page back, drops the page cache and closes the file. The file must not be mapped any more.
     * Idempotent.
     *
     * @throws IOException if dirty pages could not be written (they are reported, never dropped silently)
     */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        if (isMapped()) {
            throw new IllegalStateException(path + " is still mapped by " + mappings.length + " VMA(s): unmap it first");
        }
        IOException failure = null;
        try {
            writeback(0, Long.MAX_VALUE);
        } catch (IOException e) {
            failure = e;
        }
        closed = true;
        dropAll();
        engine.unregister(this);
        channel.close();
        if (failure != null) {
            throw failure;
        }
    }

    /** Frees every cached frame (nothing maps the file any more; pages still dirty were reported by the caller). */
    private void dropAll() {
        cache.forEachLeaf((base, leaf) -> {
            for (int s = 0; s < leaf.length; s++) {
                long e = PageTable.laPte(leaf, s);
                if (e == Pte.NONE) {
                    continue;
                }
                if (Pte.isMigration(e)) {
                    engine.cpuFaults.migrationEntryWait(leaf, s, e);
                    s--;
                    continue;
                }
                if (PageTable.casPte(leaf, s, e, Pte.NONE)) {
                    long pfn = Pte.pfn(e);
                    engine.node(Pfn.node(pfn)).releaseOne(Pfn.index(pfn), PageState.MAPPED);
                } else {
                    s--;
                }
            }
        });
    }

    public boolean isClosed() {
        return closed;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException(path + " is closed");
        }
    }

    /** Dirty pages cached now (diagnostics and reports). */
    public long dirtyPages() {
        long[] n = {0};
        cache.forEachLeaf((base, leaf) -> {
            for (long e : leaf) {
                if (dirtyPage(e)) {
                    n[0]++;
                }
            }
        });
        return n[0];
    }

    @Override
    public String toString() {
        return "MappedFile[" + path + ", " + size + " bytes, " + Arrays.stream(mappings).count() + " mappings]";
    }
}
