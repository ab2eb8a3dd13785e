package dev.hmm.mm;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.LongAdder;

/**
 * A device attached to the engine: its memory node and {@link DevicePagemap}, its copy engine, and the device side
 * of the data path ({@code lib/test_hmm.c}'s dmirror, generalised).
 *
 * <h2>Device access path</h2>
 * A device reads and writes an address space through its own view: a page that is on this device (a device-private
 * entry or a present device-coherent entry naming one of its frames) is accessed directly; any other page faults
 * (counted as a device fault) and is migrated here synchronously, then the access retries. A page that cannot come
 * (pinned, unmovable, device memory exhausted, copy failed) is accessed where it is, over the link: a remote access,
 * counted, never silent. Pages are used inside the same {@link Tlb} critical section as CPU accesses, so migrations
 * and CPU faults racing with device accesses keep every byte.
 *
 * <h2>CPU faults</h2>
 * As the pagemap's {@code migrateToRam} it migrates the faulting page back to RAM with its copy engine
 * ({@code dmirror_devmem_fault}); a copy failure is the CPU's {@link BusErrorException}.
 */
public final class Device implements AutoCloseable {
    private final HmmEngine engine;
    private final DeviceDriver driver;
    private final MemoryNode node;
    private final DevicePagemap pagemap;
    private final LongAdder pagesFreed = new LongAdder();

    Device(HmmEngine engine, DeviceDriver driver, MemoryNode node) {
        this.engine = engine;
        this.driver = driver;
        this.node = node;
        this.pagemap = new DevicePagemap(driver.memoryType(), driver.owner(), node, new DevicePagemap.Ops() {
            @Override
            public void migrateToRam(VmFault fault) {
                Device.this.migrateToRam(fault);
            }

            @Override
            public void pageFree(long pfn) {
                pagesFreed.increment();
            }
        });
        node.attach(pagemap);
    }

    public String name() {
        return driver.name();
    }

    public MemoryNode node() {
        return node;
    }

    public DevicePagemap pagemap() {
        return pagemap;
    }

    public MemoryType memoryType() {
        return node.type();
    }

    public Object owner() {
        return pagemap.owner();
    }

    public DeviceDriver driver() {
        return driver;
    }

    public CopyEngine copyEngine() {
        return driver.copyEngine();
    }

    public long freeFrames() {
        return node.freeFrames();
    }

    /** Device frames returned through {@code pageFree} so far. */
    public long pagesFreed() {
        return pagesFreed.sum();
    }

    // ------------------------------------------------------------------ migration

    /** Migrates {@code [va, va+length)} of {@code mm} onto this device (other devices' pages through RAM). */
    public MigrationResult migrate(AddressSpace mm, long va, long length) {
        return engine.migrate(mm, va, length, this);
    }

    /** {@code dmirror_devmem_fault}: bring the faulting page back to RAM. */
    void migrateToRam(VmFault fault) {
        AddressSpace mm = fault.mm();
        long page = fault.address() & ~(long) (mm.pageSize - 1);
        MigrationResult r = engine.migrator.toRam(mm, page, page + mm.pageSize, this);
        switch (r.result(0)) {
            case COPY_FAILED -> throw new BusErrorException(fault.address(),
                    "device " + name() + " could not copy the page back to RAM");
            case OUT_OF_RAM -> throw new OutOfFramesException(engine.ram().name(), fault.address());
            default -> {
                // MIGRATED, or a race (busy, already moved, unmapped): the faulting access retries and sorts it out
            }
        }
    }

    // ------------------------------------------------------------------ device access

    /** A device read of {@code dst.length} bytes at {@code va} of {@code mm}. */
    public void read(AddressSpace mm, long va, byte[] dst) {
        access(mm, va, dst.length, AccessType.READ, MemorySegment.ofArray(dst));
    }

    /** A device write of {@code src} at {@code va} of {@code mm}. */
    public void write(AddressSpace mm, long va, byte[] src) {
        access(mm, va, src.length, AccessType.WRITE, MemorySegment.ofArray(src));
    }

    public void read(AddressSpace mm, long va, MemorySegment dst) {
        access(mm, va, dst.byteSize(), AccessType.READ, dst);
    }

    public void write(AddressSpace mm, long va, MemorySegment src) {
        access(mm, va, src.byteSize(), AccessType.WRITE, src);
    }

    /** A device access without data (the METADATA plane's access). */
    public void touch(AddressSpace mm, long va, long length, AccessType type) {
        access(mm, va, length, type, null);
    }

    private void access(AddressSpace mm, long va, long len, AccessType type, MemorySegment buf) {
        if (mm.engine() != engine) {
            throw new IllegalArgumentException("address space " + mm + " belongs to another engine");
        }
        if (len < 0 || va < 0 || va + len < va) {
            throw new IllegalArgumentException(String.format("bad access range 0x%x + %d", va, len));
        }
        if (buf != null && engine.config().dataPlane() != DataPlane.REAL) {
            throw new IllegalStateException("the METADATA data plane has no bytes to read or write; use touch()");
        }
        boolean write = type.isWrite();
        Tlb.Slot slot = engine.tlb.slot();
        long end = va + len;
        long bufOff = 0;
        while (va < end) {
            long vpn = va >>> mm.pageShift;
            int off = (int) (va & mm.pageMask);
            long n = Math.min(mm.pageSize - off, end - va);
            int s = PageTable.slot(vpn);
            boolean remote = false;
            for (;;) {
                long[] leaf = mm.pageTable.leaf(vpn);
                long pte = Pte.NONE;
                if (leaf != null) {
                    slot.enter();
                    pte = PageTable.lvPte(leaf, s);
                    if (usable(pte, write, remote)) {
                        long want = pte | Pte.ACCESSED | (write ? Pte.DIRTY : 0);
                        if (want == pte || PageTable.casPte(leaf, s, pte, want)) {
                            if (buf != null) {
                                copy(Pte.pfn(pte), off, n, write, buf, bufOff);
                            }
                            slot.exit();
                            if (remote) {
                                engine.stats.remoteAccesses.increment();
                            }
                            break;
                        }
                        slot.exit();
                        continue;
                    }
                    slot.exit();
                }
                remote = fault(mm, va, vpn, leaf, pte, type);
            }
            va += n;
            bufOff += n;
        }
    }

    private boolean usable(long pte, boolean write, boolean remote) {
        if ((pte & Pte.PROTNONE) != 0 || (write && (pte & Pte.WRITE) == 0)) {
            return false;
        }
        int k = Pte.kind(pte);
        if (k == Pte.KIND_DEVICE_PRIVATE || k == Pte.KIND_PRESENT) {
            return Pfn.node(Pte.pfn(pte)) == node.id() || (remote && k == Pte.KIND_PRESENT);
        }
        return false;
    }

    /**
     * A device access missed: make the page usable here. Returns true when the page must be accessed remotely
     * (where it is) because it cannot move here.
     */
    private boolean fault(AddressSpace mm, long va, long vpn, long[] leaf, long pte, AccessType type) {
        engine.stats.deviceFaults.increment();
        if (Pte.isMigration(pte)) {
            engine.cpuFaults.migrationEntryWait(leaf, PageTable.slot(vpn), pte);
            return false;
        }
        Vma vma = mm.findVma(va);
        if (vma == null) {
            throw new SegmentationFaultException(va, "device " + name() + ": no mapping");
        }
        if (!vma.prot().allows(type.isWrite())) {
            throw new SegmentationFaultException(va, "device " + name() + ": " + type + " of " + vma.prot()
                    + " mapping " + vma);
        }
        int k = Pte.kind(pte);
        if ((k == Pte.KIND_PRESENT || k == Pte.KIND_DEVICE_PRIVATE)
                && (Pte.isProtNone(pte) || (type.isWrite() && !Pte.isWrite(pte)))) {
            engine.cpuFaults.fixProtection(mm, va, vpn, pte, type); // only the permission is missing
            return false;
        }
        long page = va & ~mm.pageMask;
        MigrationResult r = engine.migrator.toDevice(mm, page, page + mm.pageSize, this);
        switch (r.result(0)) {
            case MIGRATED, ALREADY_ON_TARGET, BUSY, NOT_PRESENT, OTHER_OWNER -> {
                return false; // retry the access
            }
            case OUT_OF_RAM -> throw new OutOfFramesException(engine.ram().name(), va);
            default -> {
                // pinned, unmovable, no device memory, copy failed: access it where it is, over the link
                if (Pte.isNone(mm.pte(page))) {
                    engine.cpuFaults.handle(mm, va, vpn, Pte.NONE, type); // a hole: first touch in RAM
                }
                return true;
            }
        }
    }

    private void copy(long pfn, int off, long n, boolean write, MemorySegment buf, long bufOff) {
        MemoryNode where = engine.node(Pfn.node(pfn));
        long at = where.offset(Pfn.index(pfn)) + off;
        if (write) {
            MemorySegment.copy(buf, bufOff, where.memory, at, n);
        } else {
            MemorySegment.copy(where.memory, at, buf, bufOff, n);
        }
    }

    /** Detaching a device is done by closing the engine (device memory is evicted first). */
    @Override
    public void close() {
        driver.close();
    }

    @Override
    public String toString() {
        return "Device[" + name() + ", " + node.type() + ", " + node.frames() + " frames]";
    }
}
