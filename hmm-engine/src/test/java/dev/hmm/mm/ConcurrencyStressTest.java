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

    // the shadow-copy stress on device accessors of two devices, for every replay policy, with atomics taking
    // device exclusivity on one of them: faults, range faults, invalidations and revocations all racing
    @ParameterizedTest
    @EnumSource(ReplayPolicy.class)
    void two_devices_every_replay_policy_with_exclusive_atomics(ReplayPolicy policy) throws Exception {
        long length = 128L * PAGE;
        for (long seed = 1; seed <= 3; seed++) {
            try (Fixture f = new Fixture(EngineConfig.of(4L << 20).withMigrateBatchPages((int) (7 * seed)),
                    seed == 2 ? MemoryType.DEVICE_COHERENT : MemoryType.DEVICE_PRIVATE, 1L << 20, 2)) {
                Device b = f.engine.attachDevice(new TestDriver("dev1", MemoryType.DEVICE_PRIVATE, 1L << 20, 1),
                        FaultServiceConfig.defaults().withMaxBatch(16 * (int) seed).withReplayPolicy(policy)
                                .withExclusiveAtomics(true)
                                .withFaultingThreadServices(seed != 2)); // seed 2: always the servicing thread
                long va = f.mm.mmap(length, Prot.READ_WRITE);
                StressHarness.Outcome out = StressHarness.run(f.engine, f.mm, va, length, List.of(f.device, b),
                        StressHarness.Options.defaults().withSeed(seed).withThreads(3, 3, 2).withOps(4_000));
                assertThat(out.clean()).as("seed " + seed + ": " + out).isTrue();
                HmmStats s = f.engine.stats();
                assertThat(s.deviceFaults()).isEqualTo(s.servicedFaults() + s.duplicateFaults());
            }
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
        // The corrupted engine is deliberately not closed: its teardown may wait forever on a migration entry the
        // broken run left behind. It is small, and its threads are daemons.
    }
}
