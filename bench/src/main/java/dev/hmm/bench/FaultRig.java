package dev.hmm.bench;

import dev.hmm.mm.AccessType;
import dev.hmm.mm.AddressSpace;
import dev.hmm.mm.DataPlane;
import dev.hmm.mm.Device;
import dev.hmm.mm.EngineConfig;
import dev.hmm.mm.FaultServiceConfig;
import dev.hmm.mm.HmmEngine;
import dev.hmm.mm.Prot;
import org.jctools.queues.MpscArrayQueue;

/**
 * Device faults through the fault buffer: one device accessor touches {@code pages} pages that are in RAM, each a
 * fault; the device's servicing thread drains them in batches of {@code maxBatch}, migrates them (METADATA plane by
 * default: no bytes, so the figure is the fault path itself), maps them and replays. {@link #reset} brings the pages
 * back to RAM (not part of the measured operation). The reference is the fault buffer's own ceiling: the same number
 * of records through a JCTools MPSC queue of the same capacity, offered and drained on one thread.
 */
public final class FaultRig implements AutoCloseable {
    private final HmmEngine engine;
    private final Device device;
    private final AddressSpace mm;
    private final long va;
    private final long bytes;
    private final int pages;
    private final MpscArrayQueue<long[]> queue;
    private final long[] record = new long[3];

    public FaultRig(int maxBatch, int pages, DataPlane plane) {
        this(maxBatch, pages, plane, true);
    }

    /**
     * As above; {@code combining} false makes every batch go through the device's servicing thread (the hand-off
     * UVM's bottom half pays) instead of the faulting accessor servicing it ({@code FaultServiceConfig}).
     */
    public FaultRig(int maxBatch, int pages, DataPlane plane, boolean combining) {
        this(maxBatch, pages, plane, combining, DeviceSource.SIM);
    }

    /** As above, on the device {@code source} opens (a real GPU: {@link DeviceSource#cuda}). */
    public FaultRig(int maxBatch, int pages, DataPlane plane, boolean combining, DeviceSource source) {
        this.pages = pages;
        int pageSize = EngineConfig.PAGE_4K;
        this.bytes = (long) pages * pageSize;
        engine = HmmEngine.create(EngineConfig.of(bytes).withDataPlane(plane));
        FaultServiceConfig faults = FaultServiceConfig.defaults().withMaxBatch(maxBatch)
                .withBufferEntries(Math.max(4096, 2 * maxBatch)).withFaultingThreadServices(combining);
        try {
            device = DeviceSource.attach(engine, source.open("gpu0", bytes, 1), faults, null);
        } catch (RuntimeException e) {
            engine.close();
            throw e;
        }
        mm = engine.createAddressSpace();
        va = mm.mmap(bytes, Prot.READ_WRITE);
        mm.touch(va, bytes, AccessType.WRITE);
        queue = new MpscArrayQueue<>(faults.bufferEntries());
    }

    public int pages() {
        return pages;
    }

    /** One device access over every page: {@code pages} faults, serviced in batches. Returns the faults serviced. */
    public long deviceTouch() {
        long before = engine.stats().servicedFaults();
        device.touch(mm, va, bytes, AccessType.READ);
        long n = engine.stats().servicedFaults() - before;
        if (n < pages) {
            throw new IllegalStateException("expected " + pages + " serviced faults, saw " + n);
        }
        return n;
    }

    /** Puts every page back in RAM so the next touch faults again. */
    public void reset() {
        engine.migrateToRam(mm, va, bytes);
    }

    /** The buffer ceiling: {@code pages} records offered and drained in buffer-sized runs. Returns a checksum. */
    public long referenceQueue() {
        long sum = 0;
        int cap = queue.capacity();
        for (int done = 0; done < pages;) {
            int run = Math.min(cap, pages - done);
            for (int i = 0; i < run; i++) {
                record[0] = va + ((long) (done + i) << 12);
                queue.offer(record);
            }
            for (int i = 0; i < run; i++) {
                sum += queue.poll()[0];
            }
            done += run;
        }
        return sum;
    }

    public HmmEngine engine() {
        return engine;
    }

    @Override
    public void close() {
        engine.close();
    }
}
