package dev.hmm.policy.evict;

import static org.assertj.core.api.Assertions.assertThat;

import dev.hmm.mm.AccessType;
import dev.hmm.mm.AddressSpace;
import dev.hmm.mm.Device;
import dev.hmm.mm.EngineConfig;
import dev.hmm.mm.EvictionConfig;
import dev.hmm.mm.FaultServiceConfig;
import dev.hmm.mm.HmmEngine;
import dev.hmm.mm.MappedFile;
import dev.hmm.mm.MemoryType;
import dev.hmm.mm.Prot;
import dev.hmm.mm.StressHarness;
import dev.hmm.mm.TestDriver;
import dev.hmm.policy.PolicyRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** File pages on an oversubscribed device: reclaim finds them through the LRU surrogate. */
class FileEvictionTest {
    static final int PAGE = 4096;

    // dirty file pages evicted from an oversubscribed device reach the file; clean ones are just dropped
    @ParameterizedTest
    @EnumSource(value = MemoryType.class, names = {"DEVICE_PRIVATE", "DEVICE_COHERENT"})
    void dirty_file_pages_evicted_from_the_device_reach_the_file(MemoryType type, @TempDir Path dir)
            throws Exception {
        Path p = dir.resolve("data");
        Files.write(p, new byte[64 * PAGE]);
        try (HmmEngine engine = HmmEngine.create(EngineConfig.of(8L << 20))) {
            Device dev = engine.attachDevice(new TestDriver("gpu0", type, 16L * PAGE, 1),
                    FaultServiceConfig.defaults(), EvictionConfig.onDemand(PolicyRegistry.eviction("lru")));
            AddressSpace mm = engine.createAddressSpace();
            MappedFile file = engine.openFile(p, true);
            long va = mm.mmapFile(file, 0, 64L * PAGE, Prot.READ_WRITE, true);
            byte[] page = new byte[PAGE];
            for (int pg = 0; pg < 64; pg++) {
                java.util.Arrays.fill(page, (byte) (pg + 1));
                dev.write(mm, va + (long) pg * PAGE, page); // each on the device, dirty; the device holds 16
            }
            for (int pg = 0; pg < 64; pg += 2) {
                dev.touch(mm, va + (long) pg * PAGE, 1, AccessType.READ);
            }
            assertThat(engine.stats().evictions()).isPositive();
            assertThat(engine.stats().writebackPages()).as("evicted dirty pages were written back").isPositive();
            assertThat(engine.stats().pagesToRam()).as("file pages are dropped, not migrated back").isZero();
            byte[] disk = Files.readAllBytes(p);
            long onDisk = 0;
            for (int pg = 0; pg < 64; pg++) {
                if (disk[pg * PAGE] == (byte) (pg + 1)) {
                    onDisk++;
                }
            }
            assertThat(onDisk).isEqualTo(engine.stats().writebackPages());
            for (int pg = 0; pg < 64; pg++) {
                mm.read(va + (long) pg * PAGE, page);
                assertThat(page).as("page " + pg).containsOnly((byte) (pg + 1));
            }
            assertThat(engine.stats().droppedCleanPages()).as("re-read pages evicted clean").isPositive();
            assertThat(engine.check()).isEmpty();
            mm.msync(va, 64L * PAGE);
            disk = Files.readAllBytes(p);
            for (int pg = 0; pg < 64; pg++) {
                assertThat(disk[pg * PAGE]).isEqualTo((byte) (pg + 1));
            }
        }
    }

    // the shadow-copy stress over a file on oversubscribed devices, shared and private
    @ParameterizedTest
    @EnumSource(value = MemoryType.class, names = {"DEVICE_PRIVATE", "DEVICE_COHERENT"})
    void oversubscribed_file_stress_loses_no_byte(MemoryType type, @TempDir Path dir) throws Exception {
        for (boolean shared : new boolean[] {true, false}) {
            Path p = dir.resolve("f" + shared);
            Files.write(p, new byte[200 * PAGE]);
            try (HmmEngine engine = HmmEngine.create(EngineConfig.of(8L << 20).withMigrateBatchPages(16))) {
                Device a = engine.attachDevice(new TestDriver("gpu0", type, 96L * PAGE, 2),
                        FaultServiceConfig.defaults(), EvictionConfig.onDemand(PolicyRegistry.eviction("lru")));
                Device b = engine.attachDevice(new TestDriver("gpu1", MemoryType.DEVICE_PRIVATE, 48L * PAGE, 1),
                        FaultServiceConfig.defaults().withReadDuplication(true),
                        new EvictionConfig(PolicyRegistry.eviction("lru"), 4, 8));
                AddressSpace mm = engine.createAddressSpace();
                MappedFile file = engine.openFile(p, true);
                long len = 200L * PAGE;
                long va = mm.mmapFile(file, 0, len, Prot.READ_WRITE, shared);
                StressHarness.Outcome out = StressHarness.run(engine, mm, va, len, List.of(a, b),
                        StressHarness.Options.defaults().withThreads(2, 3, 2).withOps(2_500));
                assertThat(out.clean()).as((shared ? "shared: " : "private: ") + out).isTrue();
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
}
