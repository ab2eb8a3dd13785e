package dev.hmm.policy.evict;

import static org.assertj.core.api.Assertions.assertThat;

import dev.hmm.mm.AddressSpace;
import dev.hmm.mm.Device;
import dev.hmm.mm.EngineConfig;
import dev.hmm.mm.EvictionConfig;
import dev.hmm.mm.FaultServiceConfig;
import dev.hmm.mm.HmmEngine;
import dev.hmm.mm.MemoryType;
import dev.hmm.mm.Prot;
import dev.hmm.mm.ReplayPolicy;
import dev.hmm.mm.StressHarness;
import dev.hmm.mm.TestDriver;
import dev.hmm.policy.PolicyRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.LongStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The shadow-copy stress ({@link StressHarness}) over engine configurations drawn at random from a seed: the other
 * stress tests each fix one combination, this one mixes them (4 KiB or 2 MiB pages, private or coherent memory, a
 * synchronous or an asynchronous copy engine on 1 or 2 threads, chunk sizes from 1 to 512 pages, oversubscription
 * with {@code lru} or {@code fifo} and any reclaim cluster and watermark, a second device of another owner, every
 * replay policy, exclusive atomics, read duplication, combining or a servicing thread, 1 to 3 threads of each kind). Every run must lose no byte, pass the
 * whole-engine check, and give every frame back when the address space closes.
 *
 * <p>CI runs {@value #DEFAULT_ROUNDS} seeds. For a soak, {@code -Dhmm.stress.rounds=N} (and
 * {@code -Dhmm.stress.firstSeed=S}); a failure names its seed and configuration, and
 * {@code -Dhmm.stress.firstSeed=S -Dhmm.stress.rounds=1} replays that configuration (the interleaving is the
 * scheduler's, so a rare race may take a few runs):
 * <pre>
 * ./mvnw -o test -pl policies -Dtest=RandomConfigurationStressTest -Dhmm.stress.rounds=5000
 * </pre>
 */
class RandomConfigurationStressTest {
    static final int DEFAULT_ROUNDS = 24;
    private static final int PAGE = EngineConfig.PAGE_4K;
    private static final int PAGE_2M = EngineConfig.PAGE_2M;
    private static final int[] CHUNKS = {1, 7, 16, 64, 200, 512};

    /** One configuration, drawn from its seed. */
    record Config(long seed, int pageSize, int pages, MemoryType type, boolean asyncCopy, int copyThreads, int chunk,
            String eviction, int devicePages, int reclaimCluster, long watermark, boolean secondOwner,
            ReplayPolicy replay, boolean exclusiveAtomics, boolean readDuplication, boolean combining, int maxBatch,
            int cpuThreads, int deviceThreads, int migrators, int ops) {

        static Config draw(long seed) {
            SplittableRandom r = new SplittableRandom(seed);
            int pages = 32 + r.nextInt(600);
            MemoryType type = r.nextBoolean() ? MemoryType.DEVICE_PRIVATE : MemoryType.DEVICE_COHERENT;
            boolean async = r.nextBoolean();
            int copyThreads = 1 + r.nextInt(2);
            int chunk = CHUNKS[r.nextInt(CHUNKS.length)];
            String eviction = r.nextInt(3) == 0 ? null : r.nextBoolean() ? "lru" : "fifo";
            int devicePages = eviction != null ? Math.max(16, pages * (40 + r.nextInt(60)) / 100) : pages + 64;
            int cluster = 1 + r.nextInt(40);
            long watermark = r.nextInt(4) == 0 ? r.nextInt(Math.max(1, devicePages / 8)) : 0;
            boolean second = r.nextInt(3) == 0;
            ReplayPolicy replay = ReplayPolicy.values()[r.nextInt(ReplayPolicy.values().length)];
            boolean exclusive = r.nextInt(3) == 0;
            boolean duplication = !exclusive && r.nextInt(4) == 0;
            boolean combining = r.nextBoolean();
            int maxBatch = 8 << r.nextInt(6);
            int cpuThreads = 1 + r.nextInt(3);
            int deviceThreads = 1 + r.nextInt(3);
            int migrators = 1 + r.nextInt(3);
            int ops = 1000 + r.nextInt(3000);
            // drawn last, so that the 4 KiB configurations of the seeds before it came are unchanged: one in six
            // runs with 2 MiB pages (THP migration), fewer of them and fewer operations, the same device share
            int pageSize = PAGE;
            if (r.nextInt(6) == 0) {
                pageSize = PAGE_2M;
                int hugePages = 4 + pages % 20;
                devicePages = eviction != null ? Math.max(4, devicePages * hugePages / pages) : hugePages + 4;
                watermark = Math.min(watermark, devicePages / 8);
                pages = hugePages;
                ops /= 10;
            }
            return new Config(seed, pageSize, pages, type, async, copyThreads, chunk, eviction, devicePages, cluster,
                    watermark, second, replay, exclusive, duplication, combining, maxBatch, cpuThreads, deviceThreads,
                    migrators, ops);
        }

        /** Frames of RAM: room for every page four times over, with a margin. */
        long ramBytes() {
            return 4L * (pages + (pageSize == PAGE ? 64 : 16)) * pageSize;
        }

        EvictionConfig evictionConfig() {
            return eviction == null ? EvictionConfig.NONE
                    : EvictionConfig.onDemand(PolicyRegistry.eviction(eviction)).withReclaimCluster(reclaimCluster)
                            .withLowWatermark(watermark);
        }
    }

    static LongStream seeds() {
        long first = Long.getLong("hmm.stress.firstSeed", 1);
        return LongStream.range(first, first + Integer.getInteger("hmm.stress.rounds", DEFAULT_ROUNDS));
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void a_random_configuration_loses_no_byte_and_leaks_no_frame(long seed) throws Exception {
        Config c = Config.draw(seed);
        List<String> problems = new ArrayList<>();
        try (HmmEngine engine = HmmEngine.create(
                EngineConfig.of(c.ramBytes()).withPageSize(c.pageSize()).withMigrateBatchPages(c.chunk()))) {
            List<Device> devices = new ArrayList<>();
            devices.add(engine.attachDevice(
                    new TestDriver("gpu0", c.type(), (long) c.devicePages() * c.pageSize(), c.copyThreads(), null,
                            c.asyncCopy()),
                    FaultServiceConfig.defaults().withReplayPolicy(c.replay()).withMaxBatch(c.maxBatch())
                            .withExclusiveAtomics(c.exclusiveAtomics()).withReadDuplication(c.readDuplication())
                            .withFaultingThreadServices(c.combining()),
                    c.evictionConfig()));
            if (c.secondOwner()) { // the other copy mode and servicing mode, so pages bounce between the two kinds
                devices.add(engine.attachDevice(
                        new TestDriver("gpu1", MemoryType.DEVICE_PRIVATE, (long) c.devicePages() * c.pageSize(), 1, null,
                                !c.asyncCopy()),
                        FaultServiceConfig.defaults().withFaultingThreadServices(!c.combining()),
                        c.evictionConfig()));
            }
            AddressSpace mm = engine.createAddressSpace();
            long length = (long) c.pages() * c.pageSize();
            long va = mm.mmap(length, Prot.READ_WRITE);
            StressHarness.Outcome out = StressHarness.run(engine, mm, va, length, devices,
                    StressHarness.Options.defaults().withSeed(seed)
                            .withThreads(c.cpuThreads(), c.deviceThreads(), c.migrators()).withOps(c.ops()));
            if (!out.clean()) {
                problems.add(out.toString());
            }
            problems.addAll(engine.check());
            mm.close();
            if (engine.ram().freeFrames() != engine.ram().frames()) {
                problems.add("RAM frames not given back: " + (engine.ram().frames() - engine.ram().freeFrames()));
            }
            for (Device d : devices) {
                if (d.freeFrames() != d.node().frames()) {
                    problems.add(d.name() + " frames not given back: " + (d.node().frames() - d.freeFrames()));
                }
            }
        }
        assertThat(problems).as("%s", c).isEmpty();
    }
}
