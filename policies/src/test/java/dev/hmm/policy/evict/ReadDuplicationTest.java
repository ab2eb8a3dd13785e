package dev.hmm.policy.evict;

import static org.assertj.core.api.Assertions.assertThat;

import dev.hmm.mm.AddressSpace;
import dev.hmm.mm.Device;
import dev.hmm.mm.EngineConfig;
import dev.hmm.mm.EvictionConfig;
import dev.hmm.mm.FaultServiceConfig;
import dev.hmm.mm.HmmEngine;
import dev.hmm.mm.MemoryType;
import dev.hmm.mm.PageInfo;
import dev.hmm.mm.Prot;
import dev.hmm.mm.Pte;
import dev.hmm.mm.StressHarness;
import dev.hmm.mm.TestDriver;
import dev.hmm.policy.PolicyRegistry;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Read duplication: read-only copies on the device, broken by writes, dropped without a copy on eviction. */
class ReadDuplicationTest {
    static final int PAGE = 4096;

    @Test
    void reads_duplicate_and_writes_break_the_duplication() {
        try (HmmEngine engine = HmmEngine.create(EngineConfig.of(8L << 20))) {
            Device dev = engine.attachDevice(new TestDriver("gpu0", MemoryType.DEVICE_PRIVATE, 1L << 20, 1),
                    FaultServiceConfig.defaults().withReadDuplication(true));
            AddressSpace mm = engine.createAddressSpace();
            long va = mm.mmap(8L * PAGE, Prot.READ_WRITE);
            byte[] data = new byte[8 * PAGE];
            Arrays.fill(data, (byte) 3);
            mm.write(va, data);
            byte[] seen = new byte[8 * PAGE];
            dev.read(mm, va, seen);
            assertThat(seen).isEqualTo(data);
            assertThat(engine.stats().duplicatesCreated()).isEqualTo(8);
            assertThat(engine.stats().pagesToDevice()).isZero();
            PageInfo p0 = mm.page(va);
            assertThat(p0.memoryType()).isEqualTo(MemoryType.SYSTEM_RAM);
            assertThat(p0.writable()).isFalse();
            assertThat(Pte.isDuplicated(mm.pte(va))).isTrue();
            assertThat(Pte.isRemote(dev.mirrorEntry(mm, va))).as("a local copy").isFalse();
            assertThat(Pte.isDuplicated(dev.mirrorEntry(mm, va))).as("the mirror entry says it is a copy").isTrue();
            long faults = engine.stats().deviceFaults();
            dev.read(mm, va, seen);
            assertThat(engine.stats().deviceFaults()).isEqualTo(faults);
            mm.read(va, seen); // the CPU reads its original, no fault
            assertThat(engine.check()).isEmpty();

            mm.write(va, new byte[] {9}); // breaks page 0's duplication
            assertThat(engine.stats().droppedDuplicates()).isEqualTo(1);
            assertThat(dev.mirrorEntry(mm, va)).isZero();
            assertThat(mm.page(va).writable()).isTrue();
            byte[] one = new byte[1];
            dev.read(mm, va, one);
            assertThat(one[0]).isEqualTo((byte) 9);

            dev.write(mm, va + PAGE, new byte[] {7}); // a device write migrates the page, dropping its copy
            assertThat(mm.page(va + PAGE).isOn(dev.node())).isTrue();
            assertThat(Pte.isDuplicated(dev.mirrorEntry(mm, va + PAGE))).as("a migrated page is no copy").isFalse();
            assertThat(engine.stats().droppedDuplicates()).isEqualTo(2);
            mm.read(va + PAGE, one);
            assertThat(one[0]).isEqualTo((byte) 7);
            assertThat(engine.check()).isEmpty();
        }
    }

    // a clean copy whose RAM original is valid is dropped without a copy when evicted
    @Test
    void eviction_drops_duplicates_without_copying() {
        try (HmmEngine engine = HmmEngine.create(EngineConfig.of(8L << 20))) {
            Device dev = engine.attachDevice(new TestDriver("gpu0", MemoryType.DEVICE_PRIVATE, 8L * PAGE, 1),
                    FaultServiceConfig.defaults().withReadDuplication(true),
                    EvictionConfig.onDemand(PolicyRegistry.eviction("lru")));
            AddressSpace mm = engine.createAddressSpace();
            long va = mm.mmap(32L * PAGE, Prot.READ_WRITE);
            byte[] data = new byte[32 * PAGE];
            for (int i = 0; i < data.length; i++) {
                data[i] = (byte) (i / PAGE);
            }
            mm.write(va, data);
            byte[] page = new byte[PAGE];
            for (int round = 0; round < 2; round++) {
                for (int p = 0; p < 32; p++) {
                    dev.read(mm, va + (long) p * PAGE, page);
                    assertThat(page).containsOnly((byte) p);
                }
            }
            assertThat(engine.stats().evictions()).isEqualTo(64 - 8);
            assertThat(engine.stats().droppedDuplicates()).isEqualTo(64 - 8);
            assertThat(engine.stats().pagesToRam()).as("nothing was copied back").isZero();
            assertThat(engine.stats().pagesToDevice()).isZero();
            assertThat(engine.check()).isEmpty();
        }
    }

    @Test
    void stress_with_read_duplication_and_eviction_loses_no_byte() throws Exception {
        for (long seed = 1; seed <= 3; seed++) {
            try (HmmEngine engine = HmmEngine.create(EngineConfig.of(4L << 20).withMigrateBatchPages(16))) {
                Device a = engine.attachDevice(new TestDriver("gpu0", MemoryType.DEVICE_PRIVATE, 96L * PAGE, 1),
                        FaultServiceConfig.defaults().withReadDuplication(true),
                        EvictionConfig.onDemand(PolicyRegistry.eviction("lru")));
                Device b = engine.attachDevice(new TestDriver("gpu1", MemoryType.DEVICE_PRIVATE, 64L * PAGE, 1),
                        FaultServiceConfig.defaults().withReadDuplication(true).withExclusiveAtomics(true),
                        new EvictionConfig(PolicyRegistry.eviction("lru"), 4, 8));
                AddressSpace mm = engine.createAddressSpace();
                long len = 128L * PAGE;
                long va = mm.mmap(len, Prot.READ_WRITE);
                StressHarness.Outcome out = StressHarness.run(engine, mm, va, len, List.of(a, b),
                        StressHarness.Options.defaults().withSeed(seed).withThreads(2, 3, 2).withOps(3_000));
                assertThat(out.clean()).as("seed " + seed + ": " + out).isTrue();
                assertThat(engine.stats().duplicatesCreated()).isPositive();
            }
        }
    }
}
