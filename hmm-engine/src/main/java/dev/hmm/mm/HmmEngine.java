package dev.hmm.mm;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The heterogeneous memory management engine: system RAM (node 0), the devices attached to it, the address spaces
 * that use them, and the machinery shared by all (TLB shootdown, migration-entry waits, metrics).
 *
 * {@snippet lang = "java" :
 * try (HmmEngine engine = HmmEngine.create(EngineConfig.of(1L << 30))) {
 *     Device gpu = engine.attachDevice(driver);              // registers a DevicePagemap
 *     AddressSpace mm = engine.createAddressSpace();
 *     long va = mm.mmap(64 << 20, Prot.READ_WRITE);
 *     mm.write(va, data);                                    // CPU first touch: zeroed RAM frames
 *     MigrationResult r = engine.migrate(mm, va, 64 << 20, gpu); // migrate_vma, batched copies
 *     mm.read(va, data);                                     // device-private: CPU faults, migrateToRam
 * }
 * }
 */
public final class HmmEngine implements AutoCloseable {
    private final EngineConfig config;
    private final MemoryNode[] nodes = new MemoryNode[Pfn.MAX_NODES];
    private final MemoryNode ram;
    private final List<Device> devices = new CopyOnWriteArrayList<>();
    private volatile AddressSpace[] spaces = new AddressSpace[16];
    private volatile MappedFile[] files = new MappedFile[8];
    private int nextFileId = 1; // guarded by this
    private int nextSpaceId = 1; // guarded by this
    private int nextNodeId = 1; // guarded by this
    private volatile boolean closed;

    final Tlb tlb = new Tlb();
    final PageWaitTable waits = new PageWaitTable();
    final HmmStats stats;
    final CpuFaultHandler cpuFaults;
    final Migrator migrator;
    final TestHooks hooks = new TestHooks();
    final HmmRangeFault rangeFault = new HmmRangeFault(this);
    final MigrateDevice migrateDevice = new MigrateDevice(this);

    private HmmEngine(EngineConfig config, MeterRegistry registry) {
        this.config = config;
        this.stats = new HmmStats(registry, tlb, waits);
        int frames = (int) (config.ramBytes() / config.pageSize());
        PageStore store = PageStore.create(config.dataPlane(), frames, config.pageSize());
        this.ram = new MemoryNode(0, "ram", MemoryType.SYSTEM_RAM, frames, config.pageSize(), store);
        nodes[0] = ram;
        stats.registerNode(ram);
        this.cpuFaults = new CpuFaultHandler(this, stats);
        this.migrator = new Migrator(this);
    }

    /** An engine with its meters on a fresh {@link SimpleMeterRegistry}. */
    public static HmmEngine create(EngineConfig config) {
        return new HmmEngine(config, new SimpleMeterRegistry());
    }

    /** An engine registering its {@code hmm.*} meters on {@code registry}. */
    public static HmmEngine create(EngineConfig config, MeterRegistry registry) {
        return new HmmEngine(config, registry);
    }

    public EngineConfig config() {
        return config;
    }

    public int pageSize() {
        return config.pageSize();
    }

    public HmmStats stats() {
        return stats;
    }

    /** The system-RAM node. */
    public MemoryNode ram() {
        return ram;
    }

    /** The node with id {@code id} (0 = RAM). Hot path: a plain array read. */
    MemoryNode node(int id) {
        return nodes[id];
    }

    /** The node with id {@code id}, or an exception. */
    public MemoryNode nodeById(int id) {
        MemoryNode n = id >= 0 && id < nodes.length ? nodes[id] : null;
        if (n == null) {
            throw new IllegalArgumentException("no memory node " + id);
        }
        return n;
    }

    public List<Device> devices() {
        return devices;
    }

    /**
     * Attaches a device: allocates its memory through the driver and registers it as a {@link DevicePagemap}
     * ({@code memremap_pages}).
     */
    public Device attachDevice(DeviceDriver driver) {
        return attachDevice(driver, FaultServiceConfig.defaults());
    }

    /** As {@link #attachDevice(DeviceDriver)}, with the device's fault-servicing configuration. */
    public Device attachDevice(DeviceDriver driver, FaultServiceConfig faults) {
        return attachDevice(driver, faults, EvictionConfig.NONE);
    }

    /** As {@link #attachDevice(DeviceDriver)}, with fault servicing and eviction (the LRU surrogate) configured. */
    public synchronized Device attachDevice(DeviceDriver driver, FaultServiceConfig faults, EvictionConfig eviction) {
        checkOpen();
        long cap = driver.capacityBytes();
        int ps = config.pageSize();
        if (cap < ps || cap % ps != 0) {
            throw new IllegalArgumentException("device " + driver.name() + ": memory must be a positive multiple of the "
                    + "page size: capacity=" + cap + ", pageSize=" + ps);
        }
        if (cap / ps > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("device " + driver.name() + ": more than 2^31 frames: capacity=" + cap);
        }
        if (!driver.memoryType().isDevice()) {
            throw new IllegalArgumentException("device " + driver.name() + ": memory type " + driver.memoryType()
                    + " is not device memory");
        }
        for (Device d : devices) {
            if (d.name().equals(driver.name())) {
                throw new IllegalArgumentException("a device named " + driver.name() + " is already attached");
            }
        }
        if (nextNodeId >= Pfn.MAX_NODES) {
            throw new IllegalStateException("at most " + (Pfn.MAX_NODES - 1) + " devices");
        }
        int frames = (int) (cap / ps);
        PageStore store = driver.createPageStore(frames, ps, config.dataPlane());
        int id = nextNodeId++;
        MemoryNode node = new MemoryNode(id, driver.name(), driver.memoryType(), frames, ps, store);
        Device device = new Device(this, driver, node, faults, eviction);
        nodes[id] = node;
        devices.add(device);
        stats.registerNode(node);
        return device;
    }

    /** A new, empty address space ({@code mm_struct}). */
    public synchronized AddressSpace createAddressSpace() {
        checkOpen();
        int id = nextSpaceId++;
        if (id >= Rmap.MAX_SPACES) {
            throw new IllegalStateException("at most " + Rmap.MAX_SPACES + " address spaces");
        }
        AddressSpace mm = new AddressSpace(this, id);
        AddressSpace[] cur = spaces;
        if (id >= cur.length) {
            cur = Arrays.copyOf(cur, Math.max(id + 1, cur.length * 2));
        } else {
            cur = cur.clone();
        }
        cur[id] = mm;
        spaces = cur;
        return mm;
    }

    /**
     * Opens a file for mapping ({@link AddressSpace#mmapFile}); its page cache lives until {@link MappedFile#close}
     * (or engine close, which writes every dirty page back).
     *
     * @throws java.nio.file.NoSuchFileException, java.nio.file.AccessDeniedException and other I/O errors, naming
     *     the file
     */
    public synchronized MappedFile openFile(java.nio.file.Path path, boolean writable) throws java.io.IOException {
        checkOpen();
        int id = nextFileId++;
        if (id >= Rmap.MAX_SPACES) {
            throw new IllegalStateException("at most " + Rmap.MAX_SPACES + " files");
        }
        MappedFile f = new MappedFile(this, id, path, writable);
        MappedFile[] cur = files;
        cur = id >= cur.length ? Arrays.copyOf(cur, Math.max(id + 1, cur.length * 2)) : cur.clone();
        cur[id] = f;
        files = cur;
        return f;
    }

    /** The open file with this id, or null (reverse-map lookups). */
    MappedFile file(int id) {
        MappedFile[] f = files;
        return id < f.length ? f[id] : null;
    }

    /** Files open now. */
    List<MappedFile> openFiles() {
        List<MappedFile> l = new ArrayList<>();
        for (MappedFile f : files) {
            if (f != null && !f.isClosed()) {
                l.add(f);
            }
        }
        return l;
    }

    synchronized void unregister(MappedFile f) {
        MappedFile[] cur = files.clone();
        if (f.id() < cur.length && cur[f.id()] == f) {
            cur[f.id()] = null;
            files = cur;
        }
    }

    /** The device owning a device node. */
    Device deviceOf(MemoryNode node) {
        for (Device d : devices) {
            if (d.node() == node) {
                return d;
            }
        }
        throw new IllegalArgumentException("no device owns node " + node);
    }

    /**
     * Allocates one RAM frame for a fault at {@code va}; under RAM pressure clean page-cache pages are dropped first
     * (dirty ones written back). Throws {@link OutOfFramesException} ({@code VM_FAULT_OOM}) if nothing can be freed.
     */
    int allocateRam(long va) {
        int[] one = new int[1];
        if (allocateRam(one, 0, 1) == 1) {
            return one[0];
        }
        throw new OutOfFramesException(ram.name(), va);
    }

    /**
     * Allocates up to {@code n} RAM frames into {@code out[from..]}. Under RAM pressure clean page-cache pages are
     * dropped (dirty ones written back), retrying a bounded number of times: pages locked by writeback or migration
     * at this moment may be free to drop a moment later (Linux retries direct reclaim the same way before OOM).
     *
     * @return frames allocated; 0 only when nothing could be freed
     */
    int allocateRam(int[] out, int from, int n) {
        int got = ram.allocate(out, from, n);
        if (got > 0 || openFiles().isEmpty()) {
            return got;
        }
        dev.hmm.concurrent.Backoff backoff = new dev.hmm.concurrent.Backoff();
        for (int attempt = 0; attempt < 200 && got == 0; attempt++) {
            shrinkPageCache(Math.max(n, 16));
            got = ram.allocate(out, from, n);
            if (got == 0) {
                backoff.idle();
            }
        }
        return got;
    }

    /** Page-cache reclaim of RAM: drops up to {@code want} clean (or written-back) file pages. */
    int shrinkPageCache(int want) {
        int freed = 0;
        for (MappedFile f : files) {
            if (f != null && !f.isClosed() && freed < want) {
                freed += f.shrink(want - freed);
            }
        }
        return freed;
    }

    /** The address space with this id, or null (reverse-map lookups). */
    AddressSpace space(int id) {
        AddressSpace[] s = spaces;
        return id < s.length ? s[id] : null;
    }

    synchronized void unregister(AddressSpace mm) {
        AddressSpace[] cur = spaces.clone();
        if (mm.id() < cur.length && cur[mm.id()] == mm) {
            cur[mm.id()] = null;
            spaces = cur;
        }
    }

    /**
     * Migrates {@code [va, va+length)} of {@code mm} to {@code target}: system pages and holes are moved there, other
     * devices' pages go through RAM. One {@code migrate_vma} sequence per batch of pages.
     */
    public MigrationResult migrate(AddressSpace mm, long va, long length, Device target) {
        checkRange(mm, va, length);
        if (!target.memoryType().movable()) {
            throw new IllegalArgumentException("device " + target.name() + " holds " + target.memoryType()
                    + " memory, which is not a migration target (map it in place with mmapDax)");
        }
        return migrator.toDevice(mm, va, va + mm.alignUp(length), target, null, 0);
    }

    /** Migrates every device page of {@code [va, va+length)} back to system RAM. */
    public MigrationResult migrateToRam(AddressSpace mm, long va, long length) {
        checkRange(mm, va, length);
        return migrator.toRam(mm, va, va + mm.alignUp(length), null);
    }

    /**
     * Revokes a device-exclusive entry ({@code remove_device_exclusive_entry}): the holding device's mirror drops it
     * (and counts the revocation), the TLB flush waits for device accessors still using it, then the entry becomes a
     * normal present entry again. Returns the entry now in place.
     */
    long revokeExclusive(AddressSpace mm, long va, long[] leaf, int s, long pte) {
        long page = va & ~mm.pageMask;
        try (MmuNotifierRange r = mm.invalidateRangeStart(page, page + mm.pageSize,
                MmuNotifierEvent.EXCLUSIVE_REVOKE, null)) {
            tlb.flush();
            long restored = Pte.present(Pte.pfn(pte), Pte.flags(pte));
            if (PageTable.casPte(leaf, s, pte, restored)) {
                stats.exclusiveRevocations.increment();
                return restored;
            }
            return PageTable.laPte(leaf, s);
        }
    }

    /**
     * Makes the RAM page at {@code va} device-exclusive to {@code device} ({@code make_device_exclusive}): the page is
     * first brought to RAM if needed (fault, migration back), every mirror drops it, the CPU entry becomes an exclusive
     * entry naming the holder, and the TLB is flushed so no CPU accessor still uses the old entry. A CPU touch later
     * revokes it. Returns false if the page cannot be made exclusive: it lives in memory that never moves to RAM, or
     * it is a page-cache page (Linux's {@code make_device_exclusive} takes anonymous folios only: {@code -EOPNOTSUPP}).
     */
    boolean makeDeviceExclusive(AddressSpace mm, long va, Device device) {
        long page = va & ~mm.pageMask;
        long vpn = page >>> mm.pageShift;
        for (;;) {
            long[] leaf = mm.pageTable.leaf(vpn);
            int s = PageTable.slot(vpn);
            long pte = leaf == null ? Pte.NONE : PageTable.laPte(leaf, s);
            int kind = Pte.kind(pte);
            if (kind == Pte.KIND_EXCLUSIVE && Pte.exclusiveOwner(pte) == device.node().id()) {
                return true;
            }
            if (kind == Pte.KIND_PRESENT && !Pte.isProtNone(pte)) {
                MemoryNode node = node(Pfn.node(Pte.pfn(pte)));
                if (node.type() == MemoryType.DEVICE_COHERENT) {
                    migrator.toRam(mm, page, page + mm.pageSize, null);
                    continue;
                }
                if (node.type() != MemoryType.SYSTEM_RAM) {
                    return false; // never moves to RAM
                }
                int frame = Pfn.index(Pte.pfn(pte));
                if (Rmap.isFile(node.table.laRmap(frame))) {
                    return false; // anonymous folios only, as in Linux (-EOPNOTSUPP)
                }
                try (MmuNotifierRange r = mm.invalidateRangeStart(page, page + mm.pageSize,
                        MmuNotifierEvent.EXCLUSIVE, device.owner())) {
                    long ex = Pte.exclusive(Pte.pfn(pte), device.node().id(), Pte.flags(pte));
                    if (PageTable.casPte(leaf, s, pte, ex)) {
                        if (Rmap.isFile(node.table.laRmap(frame))) {
                            // ABA: between the check and the CAS the frame was freed and read again as a page-cache
                            // page mapped here with the same entry; now that the entry names it, its reverse map is
                            // stable (droppers zap it first): give the entry back
                            PageTable.casPte(leaf, s, ex, pte);
                            return false;
                        }
                        tlb.flush();
                        return true;
                    }
                }
                continue;
            }
            cpuFaults.handle(mm, page, vpn, pte, AccessType.WRITE); // bring it to RAM (or wait, or revoke)
        }
    }

    /**
     * Cross-checks every page table against every frame ({@link InvariantCheck}); call only when no access, fault or
     * migration of the caller's is in flight (background reclaim is paused for the check).
     *
     * @return the violations found, empty when the engine is consistent
     */
    public List<String> check() {
        List<AddressSpace> all = new ArrayList<>();
        for (AddressSpace mm : spaces) {
            if (mm != null) {
                all.add(mm);
            }
        }
        // background reclaimers keep evicting after the caller's threads stop: hold them while the tables are read
        List<DeviceReclaim> paused = new ArrayList<>();
        try {
            for (Device d : devices) {
                if (d.reclaim != null) {
                    d.reclaim.pause();
                    paused.add(d.reclaim);
                }
            }
            return InvariantCheck.run(this, all);
        } finally {
            paused.forEach(DeviceReclaim::resume);
        }
    }

    private void checkRange(AddressSpace mm, long va, long length) {
        checkOpen();
        if (mm.engine() != this) {
            throw new IllegalArgumentException("address space " + mm + " belongs to another engine");
        }
        if ((va & (mm.pageSize - 1)) != 0 || length <= 0) {
            throw new IllegalArgumentException(String.format(
                    "migration needs a page-aligned start and a positive length: va=0x%x length=%d", va, length));
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("engine is closed");
        }
    }

    /**
     * Tears everything down: address spaces, then devices (their copy engines), then memory. Idempotent.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        List<RuntimeException> errors = new ArrayList<>();
        for (AddressSpace mm : spaces) {
            if (mm != null) {
                try {
                    mm.close();
                } catch (RuntimeException e) {
                    errors.add(e);
                }
            }
        }
        for (MappedFile f : files) {
            if (f != null && !f.isClosed()) {
                try {
                    f.close(); // dirty pages go to the file; a failure is reported, not swallowed
                } catch (java.io.IOException | RuntimeException e) {
                    errors.add(e instanceof RuntimeException re ? re : new java.io.UncheckedIOException(
                            (java.io.IOException) e));
                }
            }
        }
        for (Device d : devices) {
            try {
                d.close();
                d.node().store.close();
            } catch (RuntimeException e) {
                errors.add(e);
            }
        }
        ram.store.close();
        if (!errors.isEmpty()) {
            RuntimeException e = new IllegalStateException("engine close: " + errors.size() + " error(s)", errors.get(0));
            errors.stream().skip(1).forEach(e::addSuppressed);
            throw e;
        }
    }
}
