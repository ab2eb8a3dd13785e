package dev.hmm.mm;

import dev.hmm.verify.ShadowMemory;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Concurrency stress over one shared buffer: CPU threads and device threads read and write random byte ranges while
 * migrator threads move random ranges both ways, for a bounded number of operations. Every read is checked against a
 * {@link ShadowMemory}; afterwards every byte is compared with the shadow wherever its page lives, and
 * {@link HmmEngine#check()} cross-checks page tables and frames (each page in exactly one place, free counts balance).
 */
public final class StressHarness {

    /** What to run. */
    public record Options(int cpuThreads, int deviceThreads, int migratorThreads, int opsPerThread, long seed,
            int maxAccessPages, long timeoutMillis) {
        public static Options defaults() {
            return new Options(2, 2, 2, 5_000, 42, 3, 120_000);
        }

        public Options withSeed(long s) {
            return new Options(cpuThreads, deviceThreads, migratorThreads, opsPerThread, s, maxAccessPages,
                    timeoutMillis);
        }

        public Options withOps(int ops) {
            return new Options(cpuThreads, deviceThreads, migratorThreads, ops, seed, maxAccessPages, timeoutMillis);
        }

        public Options withThreads(int cpu, int device, int migrators) {
            return new Options(cpu, device, migrators, opsPerThread, seed, maxAccessPages, timeoutMillis);
        }
    }

    /** What happened: a clean run has no data error, no exception, no hang, no violation, no final mismatch. */
    public record Outcome(long dataErrors, List<Throwable> errors, boolean hung, List<String> violations,
            long finalMismatchOffset, long reads, long writes, long migrations) {
        public boolean clean() {
            return dataErrors == 0 && errors.isEmpty() && !hung && violations.isEmpty() && finalMismatchOffset < 0;
        }

        @Override
        public String toString() {
            return "Outcome{dataErrors=" + dataErrors + ", errors=" + errors.size()
                    + (errors.isEmpty() ? "" : " first=" + errors.get(0)) + ", hung=" + hung + ", violations="
                    + violations + ", finalMismatchOffset=" + finalMismatchOffset + ", reads=" + reads + ", writes="
                    + writes + ", migrations=" + migrations + "}";
        }
    }

    private StressHarness() {
    }

    public static Outcome run(HmmEngine engine, AddressSpace mm, long va, long length, List<Device> devices,
            Options o) throws InterruptedException {
        int page = engine.pageSize();
        long pages = length / page;
        AtomicLong dataErrors = new AtomicLong();
        AtomicLong reads = new AtomicLong();
        AtomicLong writes = new AtomicLong();
        AtomicLong migrations = new AtomicLong();
        List<Throwable> errors = Collections.synchronizedList(new ArrayList<>());
        // after the first error the other threads stop at their next operation (those asleep in the engine cannot)
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        List<Thread> threads = new ArrayList<>();
        try (ShadowMemory shadow = new ShadowMemory(va, length, page)) {
            int id = 0;
            for (int t = 0; t < o.cpuThreads() + o.deviceThreads(); t++) {
                final boolean cpu = t < o.cpuThreads();
                final Device dev = cpu ? null : devices.get(t % devices.size());
                final SplittableRandom rnd = new SplittableRandom(o.seed() * 1000 + id++);
                threads.add(Thread.ofPlatform().daemon().name("stress-" + (cpu ? "cpu" : dev.name()) + "-" + t)
                        .unstarted(() -> {
                            try (Arena arena = Arena.ofConfined()) {
                                MemorySegment buf = arena.allocate((long) o.maxAccessPages() * page);
                                for (int op = 0; op < o.opsPerThread() && !stop.get(); op++) {
                                    long first = rnd.nextLong(pages);
                                    long off = rnd.nextLong(page);
                                    long maxLen = Math.min((long) o.maxAccessPages() * page, length - first * page - off);
                                    if (maxLen <= 0) {
                                        continue;
                                    }
                                    long len = 1 + rnd.nextLong(maxLen);
                                    long at = va + first * page + off;
                                    boolean write = rnd.nextBoolean();
                                    if (!shadow.tryClaim(at, len, write)) {
                                        continue;
                                    }
                                    try {
                                        MemorySegment data = buf.asSlice(0, len);
                                        if (write) {
                                            ShadowMemory.pattern(data, rnd.nextLong());
                                            if (cpu) {
                                                mm.write(at, data);
                                            } else if (rnd.nextInt(4) == 0) {
                                                dev.atomicWrite(mm, at, data); // exclusivity under stress
                                            } else {
                                                dev.write(mm, at, data);
                                            }
                                            shadow.recordWrite(at, data);
                                            writes.incrementAndGet();
                                        } else {
                                            if (cpu) {
                                                mm.read(at, data);
                                            } else {
                                                dev.read(mm, at, data);
                                            }
                                            dataErrors.addAndGet(shadow.compare(at, data));
                                            reads.incrementAndGet();
                                        }
                                    } finally {
                                        shadow.release(at, len, write);
                                    }
                                }
                            } catch (Throwable e) {
                                errors.add(e);
                                stop.set(true);
                            }
                        }));
            }
            for (int t = 0; t < o.migratorThreads(); t++) {
                final SplittableRandom rnd = new SplittableRandom(o.seed() * 1000 + id++);
                threads.add(Thread.ofPlatform().daemon().name("stress-migrator-" + t).unstarted(() -> {
                    try {
                        for (int op = 0; op < o.opsPerThread() && !stop.get(); op++) {
                            long first = rnd.nextLong(pages);
                            long n = 1 + rnd.nextLong(Math.min(64, pages - first));
                            int target = rnd.nextInt(devices.size() + 1);
                            if (target == devices.size()) {
                                engine.migrateToRam(mm, va + first * page, n * page);
                            } else {
                                engine.migrate(mm, va + first * page, n * page, devices.get(target));
                            }
                            migrations.incrementAndGet();
                        }
                    } catch (Throwable e) {
                        errors.add(e);
                        stop.set(true);
                    }
                }));
            }
            threads.forEach(Thread::start);
            long deadline = System.currentTimeMillis() + o.timeoutMillis();
            boolean hung = false;
            for (Thread th : threads) {
                th.join(Math.max(1, deadline - System.currentTimeMillis()));
                hung |= th.isAlive();
            }
            if (hung) {
                // what every thread waits for is the diagnosis (accessors, servicers, reclaimers, copy workers)
                Thread.getAllStackTraces().forEach((th, stack) -> {
                    if (th.isAlive() && (threads.contains(th) || th.getName().startsWith("hmm"))) {
                        System.err.println("hung: " + th.getName() + " " + th.getState());
                        for (StackTraceElement e : stack) {
                            System.err.println("\tat " + e);
                        }
                    }
                });
                List<String> seen;
                try {
                    seen = engine.check(); // racy while the hung threads run, but names what they are stuck on
                } catch (RuntimeException e) {
                    seen = List.of("invariant check failed: " + e);
                }
                seen.stream().limit(20).forEach(v -> System.err.println("hung, violation: " + v));
                return new Outcome(dataErrors.get(), List.copyOf(errors), true, seen, -1, reads.get(),
                        writes.get(), migrations.get());
            }
            // every byte, wherever its page lives now, equals the shadow's last write
            byte[] all = new byte[(int) length];
            mm.peek(va, all);
            long mismatch = shadow.firstMismatch(MemorySegment.ofArray(all));
            List<String> violations = engine.check();

            return new Outcome(dataErrors.get(), List.copyOf(errors), false, violations, mismatch, reads.get(),
                    writes.get(), migrations.get());
        }
    }
}
