package dev.hmm.device.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.hmm.mm.CopyBatch;
import dev.hmm.mm.CopyEngine;
import dev.hmm.mm.PageStore;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The GPU as a copy engine: one {@code hmm_copy_pages} kernel launch per {@link CopyBatch} (per 65,535 pages, the
 * grid's y limit), gathering the batch's scattered source frames into its scattered destination frames, then one
 * {@code cuStreamSynchronize}. Asynchronous ({@link #submit}): the launch returns at once and the synchronize waits
 * in {@link Submission#await}, so {@code migrate_vma} prepares the next chunk while the GPU copies this one. This is the batched path of {@code shared/reference/gpu-h100.md}: per-page
 * {@code cudaMemcpyAsync} calls are launch-bound (about 3 µs each from Java, 1.37 GB/s at 4 KiB), one gather kernel
 * per batch reached 49.6 GB/s. Like a DMA engine it reads system RAM where it is: the RAM node's store is registered
 * with the driver ({@code cuMemHostRegister}, page-locked and mapped) on first use, and the kernel reads or writes it
 * over PCIe through its unified address.
 *
 * <p>Concurrency: callers (any engine thread) each take a {@link Lane} (a stream, a pinned index buffer and a kernel
 * argument block) from a lock-free stack and give it back after the synchronize, so batches in flight (from different
 * threads, or the two chunks of one pipelined migration) run on different streams and no memory is allocated per
 * batch; the index buffer is not reused before the kernels that read it are done. A lane is used by one thread at a time: taking it
 * from the stack hands it over, and the stack's own ordering makes the previous owner's writes visible.
 *
 * <p>Failures: if the driver reports an error for a launch or its synchronize, every page of the batch is marked
 * failed ({@link CopyBatch#fail}) and {@code migrate_vma} rolls them back: which pages the kernel had already written is
 * unknown. {@link #lastError()} keeps the driver's message.
 */
final class CudaCopyEngine implements CopyEngine {
    /** Threads per block: 256 x 16-byte words is one 4 KiB page per pass. */
    static final int BLOCK_THREADS = 256;
    /** The most bytes of a page one block copies: a 2 MiB page spreads over 32 blocks. */
    static final int MAX_CHUNK = 64 << 10;
    /** The grid's y dimension limit: pages per launch. */
    static final int MAX_PAGES_PER_LAUNCH = 65_535;

    private final CudaContext ctx;
    private final CudaDriver driver;
    private final MemorySegment function;
    private final ConcurrentLinkedDeque<Lane> idle = new ConcurrentLinkedDeque<>();
    private final List<Lane> lanes = new ArrayList<>();
    /** Host stores seen as copy endpoints, with their device-visible address; guarded by itself. */
    private final Map<PageStore, Long> hostPointers = new IdentityHashMap<>();
    /** Host memory this engine registered, unregistered at close; guarded by {@link #hostPointers}. */
    private final List<MemorySegment> registered = new ArrayList<>();
    private final AtomicLong launches = new AtomicLong();
    private final AtomicLong failedBatches = new AtomicLong();
    private volatile String lastError;
    private volatile boolean closed;

    CudaCopyEngine(CudaContext ctx, MemorySegment function) {
        this.ctx = ctx;
        this.driver = ctx.driver;
        this.function = function;
    }

    @Override
    public int threads() {
        return 1;
    }

    /** Kernel launches so far. */
    long launches() {
        return launches.get();
    }

    /** Batches whose pages were all marked failed because the driver reported an error. */
    long failedBatches() {
        return failedBatches.get();
    }

    /** The driver's message for the last failed batch, or null. */
    String lastError() {
        return lastError;
    }

    /** Asynchronous: {@link #submit} launches the kernel and returns; the copy runs on the GPU beside the CPU. */
    @Override
    public boolean asynchronous() {
        return true;
    }

    @Override
    public void copy(CopyBatch batch) {
        submit(batch).await();
    }

    /**
     * Launches the batch's kernels on a lane's stream and returns; {@link Submission#await} synchronizes the stream
     * and gives the lane back. An error at launch fails the batch at once; one at the synchronize fails it then.
     */
    @Override
    public Submission submit(CopyBatch batch) {
        int n = batch.count();
        if (n == 0) {
            return Submission.DONE;
        }
        if (closed) {
            throw new IllegalStateException("copy engine of CUDA device " + ctx.ordinal + " is closed");
        }
        if (!batch.source().hasData() || !batch.destination().hasData()) {
            return Submission.DONE; // METADATA plane: nothing to move
        }
        Lane lane = null;
        try {
            ctx.makeCurrent();
            long src = devicePointer(batch.source());
            long dst = devicePointer(batch.destination());
            lane = takeLane();
            lane.launch(batch, src, dst);
        } catch (CudaException | IllegalArgumentException e) {
            failBatch(batch, e);
            handBack(lane); // a later launch of a long batch may fail while the earlier ones still run
            return Submission.DONE;
        } catch (RuntimeException | Error e) {
            handBack(lane);
            throw e;
        }
        Lane launched = lane;
        return () -> {
            if (closed) {
                // close() destroyed the lanes (and waited for their streams): nothing left to synchronize
                failBatch(batch, new IllegalStateException("copy engine of CUDA device " + ctx.ordinal
                        + " closed while a batch was in flight"));
                return;
            }
            try {
                ctx.makeCurrent();
            } catch (RuntimeException e) {
                // the stream cannot be synchronized from here: the lane is not reused (close() destroys it), and
                // the batch's pages roll back
                failBatch(batch, e);
                return;
            }
            try {
                launched.sync();
            } catch (CudaException e) {
                failBatch(batch, e);
            } finally {
                idle.push(launched); // synchronized, even when it failed: its kernels are done
            }
        };
    }

    /**
     * Gives a lane back after a failed submission, once its stream is idle: kernels launched before the failure may
     * still read its index buffer. Errors of that synchronize are the batch's, already failed.
     */
    private void handBack(Lane lane) {
        if (lane == null) {
            return;
        }
        try {
            lane.sync();
        } catch (CudaException ignored) {
            // reported with the batch
        }
        idle.push(lane);
    }

    private void failBatch(CopyBatch batch, RuntimeException e) {
        lastError = e.getMessage();
        failedBatches.incrementAndGet();
        for (int i = 0, n = batch.count(); i < n; i++) {
            batch.fail(i);
        }
    }

    /** Where the kernel finds {@code store}'s frame 0: this GPU's memory, or registered host memory. */
    private long devicePointer(PageStore store) {
        if (store instanceof CudaPageStore c) {
            if (c.context() != ctx) {
                throw new IllegalArgumentException("CUDA device " + ctx.ordinal + " cannot copy from or to another "
                        + "CUDA device's memory (no peer access)");
            }
            return c.devicePointer();
        }
        MemorySegment m = store.memory();
        if (m == null || m.byteSize() == 0 || !m.isNative()) {
            throw new IllegalArgumentException("CUDA device " + ctx.ordinal + " cannot reach a page store that is "
                    + "neither host memory nor its own: " + store);
        }
        synchronized (hostPointers) {
            Long p = hostPointers.get(store);
            if (p != null) {
                return p;
            }
            int rc = driver.memHostRegister(m, m.byteSize(),
                    CudaDriver.CU_MEMHOSTREGISTER_PORTABLE | CudaDriver.CU_MEMHOSTREGISTER_DEVICEMAP);
            if (rc != CudaDriver.CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED) { // else another device registered it
                driver.check(rc, "cuMemHostRegister of " + (m.byteSize() >> 20) + " MiB of host memory");
                // by address, not the store's segment: close may find the store's arena closed already, and the
                // registration (page-locked pages) outlives it until unregistered
                registered.add(MemorySegment.ofAddress(m.address()));
            }
            try (Arena a = Arena.ofConfined()) {
                MemorySegment out = a.allocate(JAVA_LONG);
                driver.check(driver.memHostGetDevicePointer(out, m, 0), "cuMemHostGetDevicePointer");
                long dp = out.get(JAVA_LONG, 0);
                hostPointers.put(store, dp);
                return dp;
            }
        }
    }

    private Lane takeLane() {
        Lane lane = idle.poll();
        if (lane != null) {
            return lane;
        }
        lane = new Lane();
        synchronized (lanes) {
            if (closed) {
                lane.close();
                throw new IllegalStateException("copy engine of CUDA device " + ctx.ordinal + " is closed");
            }
            lanes.add(lane);
        }
        return lane;
    }

    /** A stream with its own pinned index buffer and kernel argument block. */
    private final class Lane {
        private final Arena arena = Arena.ofShared();
        private final MemorySegment stream;
        /** The six kernel arguments, 8 bytes each, and the array of pointers to them that cuLaunchKernel reads. */
        private final MemorySegment args = arena.allocate(8 * 6, 8);
        private final MemorySegment params = arena.allocate(ADDRESS, 6);
        private MemorySegment index = MemorySegment.NULL; // pinned: srcIdx[capacity] then dstIdx[capacity]
        private long indexDevice;
        private int capacity;

        Lane() {
            MemorySegment out = arena.allocate(ADDRESS);
            try {
                driver.check(driver.streamCreate(out, CudaDriver.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
            } catch (CudaException e) {
                arena.close();
                throw e;
            }
            stream = out.get(ADDRESS, 0);
            for (int i = 0; i < 6; i++) {
                params.setAtIndex(ADDRESS, i, args.asSlice(8L * i, 8));
            }
        }

        private void ensure(int n) {
            if (n <= capacity) {
                return;
            }
            int cap = Math.max(n, 1024);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment out = a.allocate(JAVA_LONG);
                driver.check(driver.memAllocHost(out, 8L * cap), "cuMemAllocHost of the copy index");
                MemorySegment fresh = out.get(ADDRESS, 0).reinterpret(8L * cap);
                int rc = driver.memHostGetDevicePointer(out, fresh, 0);
                if (rc != 0) {
                    driver.memFreeHost(fresh);
                    driver.check(rc, "cuMemHostGetDevicePointer of the copy index");
                }
                freeIndex();
                index = fresh;
                indexDevice = out.get(JAVA_LONG, 0);
                capacity = cap;
            }
        }

        /** Fills the lane's index with the batch and launches its kernels; the stream runs them. */
        void launch(CopyBatch b, long src, long dst) {
            int n = b.count();
            ensure(n);
            for (int i = 0; i < n; i++) {
                index.setAtIndex(JAVA_INT, i, b.srcIndex(i)); // CopyBatch.FILL (-1) zero-fills
                index.setAtIndex(JAVA_INT, capacity + i, b.dstIndex(i));
            }
            int pageBytes = b.pageSize();
            int chunk = Math.min(pageBytes, MAX_CHUNK);
            args.set(JAVA_LONG, 0, src);
            args.set(JAVA_LONG, 8, dst);
            args.set(JAVA_INT, 32, pageBytes);
            args.set(JAVA_INT, 40, chunk);
            for (int first = 0; first < n; first += MAX_PAGES_PER_LAUNCH) {
                int pages = Math.min(MAX_PAGES_PER_LAUNCH, n - first);
                args.set(JAVA_LONG, 16, indexDevice + 4L * first);
                args.set(JAVA_LONG, 24, indexDevice + 4L * (capacity + first));
                // the driver copies the arguments at launch: the block may change for the next launch at once
                driver.check(driver.launchKernel(function, pageBytes / chunk, pages, 1, BLOCK_THREADS, 1, 1, 0, stream,
                        params, MemorySegment.NULL), "cuLaunchKernel(hmm_copy_pages, " + pages + " pages)");
                launches.incrementAndGet();
            }
        }

        /** Waits for the kernels launched on this lane's stream. */
        void sync() {
            driver.check(driver.streamSynchronize(stream), "cuStreamSynchronize after hmm_copy_pages");
        }

        private void freeIndex() {
            if (!index.equals(MemorySegment.NULL)) {
                driver.check(driver.memFreeHost(index), "cuMemFreeHost");
                index = MemorySegment.NULL;
                capacity = 0;
            }
        }

        void close() {
            try {
                driver.streamSynchronize(stream); // an error here was reported to the batch that caused it
                driver.check(driver.streamDestroy(stream), "cuStreamDestroy");
                freeIndex();
            } finally {
                arena.close();
            }
        }
    }

    /** Destroys the lanes and unregisters the host memory this engine registered. Idempotent. */
    @Override
    public void close() {
        synchronized (lanes) {
            if (closed) {
                return;
            }
            closed = true;
        }
        ctx.makeCurrent();
        CudaException first = null;
        synchronized (lanes) {
            for (Lane l : lanes) {
                try {
                    l.close();
                } catch (CudaException e) {
                    first = first == null ? e : first;
                }
            }
            lanes.clear();
            idle.clear();
        }
        synchronized (hostPointers) {
            for (MemorySegment m : registered) {
                int rc = driver.memHostUnregister(m);
                if (rc != 0 && first == null) {
                    first = new CudaException(rc, driver.errorName(rc), "cuMemHostUnregister: " + driver.errorName(rc));
                }
            }
            registered.clear();
            hostPointers.clear();
        }
        if (first != null) {
            throw first;
        }
    }
}
