package dev.hmm.mm;

import static dev.hmm.mm.Fixture.PAGE;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * CPU and device threads read and write random pages of a shared buffer while migrations run both ways; afterwards
 * every byte equals the shadow copy's last write, every page is in exactly one place and free counts balance. And a
 * run with one CAS deliberately broken, to show the check can fail.
 */
class ConcurrencyStressTest {

    @ParameterizedTest
    @EnumSource(value = MemoryType.class, names = {"DEVICE_PRIVATE", "DEVICE_COHERENT"})
    void cpu_and_device_threads_with_migrations_both_ways_lose_no_byte(MemoryType type) throws Exception {
        long length = 512L * PAGE;
        try (Fixture f = new Fixture(EngineConfig.of(4L << 20).withMigrateBatchPages(32), type, 4L << 20, 2)) {
            long va = f.mm.mmap(length, Prot.READ_WRITE);
            StressHarness.Outcome out = StressHarness.run(f.engine, f.mm, va, length, List.of(f.device),
                    StressHarness.Options.defaults());
            assertThat(out.clean()).as(out.toString()).isTrue();
            assertThat(out.reads()).isPositive();
            assertThat(out.writes()).isPositive();
            assertThat(f.engine.stats().pagesToDevice()).isPositive();
            assertThat(f.engine.stats().pagesToRam()).isPositive();
            f.mm.close();
            assertThat(f.engine.ram().freeFrames()).isEqualTo(f.engine.ram().frames());
            assertThat(f.device.freeFrames()).isEqualTo(f.device.node().frames());
        }
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3})
    void two_devices_of_different_owners_ping_pong_with_the_cpu(long seed) throws Exception {
        long length = 256L * PAGE;
        try (Fixture f = new Fixture(EngineConfig.of(4L << 20).withMigrateBatchPages(16),
                MemoryType.DEVICE_PRIVATE, 2L << 20, 2)) {
            Device b = f.addDevice("dev1", MemoryType.DEVICE_PRIVATE, 2L << 20);
            long va = f.mm.mmap(length, Prot.READ_WRITE);
            StressHarness.Outcome out = StressHarness.run(f.engine, f.mm, va, length, List.of(f.device, b),
                    StressHarness.Options.defaults().withSeed(seed).withThreads(2, 2, 2).withOps(1_500));
            assertThat(out.clean()).as(out.toString()).isTrue();
        }
    }

    // the check can fail: a migration-entry install that is a check-then-store instead of a CAS gets caught
    @Test
    void a_broken_cas_is_caught() throws Exception {
        long length = 8L * PAGE;
        Fixture f = new Fixture(EngineConfig.of(4L << 20).withMigrateBatchPages(8), MemoryType.DEVICE_PRIVATE,
                4L << 20, 1);
        long va = f.mm.mmap(length, Prot.READ_WRITE);
        f.engine.hooks.brokenCollectCas = true;
        StressHarness.Outcome out = StressHarness.run(f.engine, f.mm, va, length, List.of(f.device),
                new StressHarness.Options(1, 1, 4, 3_000, 7, 2, 3_000));
        assertThat(out.clean()).as("the broken CAS must be detected: " + out).isFalse();
        if (!out.hung()) {
            f.engine.hooks.brokenCollectCas = false;
            try {
                f.close();
            } catch (RuntimeException ignored) {
                // a corrupted engine may not tear down cleanly; a hung one is left to the daemon threads
            }
        }
    }
}
