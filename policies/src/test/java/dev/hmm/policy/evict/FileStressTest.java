package dev.hmm.policy.evict;

import static org.assertj.core.api.Assertions.assertThat;

import dev.hmm.mm.AddressSpace;
import dev.hmm.mm.Device;
import dev.hmm.mm.EngineConfig;
import dev.hmm.mm.EvictionConfig;
import dev.hmm.mm.FaultServiceConfig;
import dev.hmm.mm.HmmEngine;
import dev.hmm.mm.MappedFile;
import dev.hmm.mm.MemoryType;
import dev.hmm.mm.Prot;
import dev.hmm.mm.ReplayPolicy;
import dev.hmm.mm.StressHarness;
import dev.hmm.mm.TestDriver;
import dev.hmm.policy.PolicyRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.LongStream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The shadow-copy storm over a file mapping: CPU threads, two oversubscribed devices (eviction through the LRU
 * surrogate drops clean pages and writes dirty ones back), explicit migrations, pins, atomics and read duplication,
 * with shared and private mappings, private and coherent devices, synchronous and asynchronous copy engines, every
 * replay policy and batch size. Afterwards the engine's invariants hold, every byte equals the shadow, and the file
 * holds exactly what was written (shared) or is untouched (private).
 *
 * <p>Half the shared seeds give RAM less than the file (100 of 128 pages), so page-cache reclaim drops and re-reads
 * pages all through the storm: the LIFO free list then hands a dropped page's frame straight to the next page read, the
 * reuse (ABA) that the rules in docs/memory-model.md "Frame reuse (ABA) and the reverse map" exist for.
 */
class FileStressTest {
    static LongStream seeds() {
        return LongStream.rangeClosed(1, 48).map(s -> s * 4 + 1 + s % 3);
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void storm_over_a_file_mapping_keeps_every_byte_and_the_file(long seed, @TempDir Path dir) throws Exception {
        boolean shared = seed % 2 == 0;
        Path p = dir.resolve("f");
        Files.write(p, new byte[128 * 4096]);
        MemoryType type = seed % 3 == 0 ? MemoryType.DEVICE_COHERENT : MemoryType.DEVICE_PRIVATE;
        // tight RAM for half the shared seeds: page-cache reclaim all the time. Private mappings fill RAM with copies
        // that nothing can reclaim (no swap), so they get room.
        long ram = shared && (seed / 4) % 2 == 0 ? 100L * 4096 : 4L << 20;
        try (HmmEngine engine = HmmEngine.create(EngineConfig.of(ram)
                .withMigrateBatchPages((int) (1 + seed % 20)))) {
            boolean asyncCopy = (seed / 5) % 2 == 1; // a copy engine of its own for about half the seeds
            Device a = engine.attachDevice(new TestDriver("gpu0", type, (40 + seed % 50) * 4096, 1 + (int) (seed % 2),
                            null, asyncCopy),
                    FaultServiceConfig.defaults().withReplayPolicy(ReplayPolicy.values()[(int) (seed % 4)])
                            .withMaxBatch((int) (1 + seed % 40)).withReadDuplication(seed % 5 == 0)
                            .withExclusiveAtomics(seed % 7 == 0).withFaultingThreadServices((seed / 3) % 2 == 0),
                    new EvictionConfig(PolicyRegistry.eviction(seed % 6 == 0 ? "fifo" : "lru"), seed % 3, 8));
            Device b = engine.attachDevice(new TestDriver("gpu1", MemoryType.DEVICE_PRIVATE, 32L * 4096, 1),
                    FaultServiceConfig.defaults(), EvictionConfig.onDemand(PolicyRegistry.eviction("lru")));
            AddressSpace mm = engine.createAddressSpace();
            MappedFile file = engine.openFile(p, true);
            long len = 128L * 4096;
            long va = mm.mmapFile(file, 0, len, Prot.READ_WRITE, shared);
            StressHarness.Outcome out = StressHarness.run(engine, mm, va, len, List.of(a, b),
                    StressHarness.Options.defaults().withSeed(seed).withThreads(3, 3, 2).withOps(2_000));
            assertThat(out.clean()).as("seed " + seed + ": " + out).isTrue();
            byte[] mem = new byte[(int) len];
            mm.peek(va, mem);
            mm.munmap(va, len);
            file.close();
            byte[] disk = Files.readAllBytes(p);
            if (shared) {
                assertThat(disk).isEqualTo(mem);
            } else {
                assertThat(disk).containsOnly(0);
            }
        }
    }
}
