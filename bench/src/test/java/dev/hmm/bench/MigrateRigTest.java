package dev.hmm.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.hmm.device.cuda.CudaException;
import dev.hmm.device.cuda.FakeCuda;
import dev.hmm.mm.DataPlane;
import dev.hmm.mm.EngineConfig;
import dev.hmm.mm.HmmEngine;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class MigrateRigTest {

    // a rig the GPU has no room for (its device memory fits, the ceiling's buffer does not) gives everything back, so
    // that the next case of a run is not starved by the one that failed
    @Test
    void a_rig_that_cannot_be_built_on_a_gpu_leaks_nothing() {
        Assumptions.assumeTrue(FakeCuda.library().isPresent() && FakeCuda.isFake(),
                "the fake driver counts what is live (and has 1 GiB)");
        FakeCuda.Hooks h = FakeCuda.hooks();
        long bytes = h.liveDeviceBytes();
        int contexts = h.retainedContexts();
        int ranges = h.registeredRanges();
        DeviceSource gpu = DeviceSource.cuda(FakeCuda.library().orElseThrow());
        assertThatThrownBy(() -> new MigrateRig(2 << 20, 300, 1, DataPlane.REAL, gpu)) // 600 MiB, twice
                .isInstanceOf(CudaException.class).hasMessageContaining("OUT_OF_MEMORY");
        assertThat(h.liveDeviceBytes()).isEqualTo(bytes);
        assertThat(h.retainedContexts()).isEqualTo(contexts);
        assertThat(h.registeredRanges()).isEqualTo(ranges);
        try (MigrateRig rig = new MigrateRig(2 << 20, 200, 1, DataPlane.REAL, gpu)) { // 400 MiB, twice: fits
            assertThat(rig.roundTrip()).isEqualTo(400);
            rig.referenceRoundTrip();
            long inUse = h.liveDeviceBytes();
            int inUseContexts = h.retainedContexts();
            // a device that fits the GPU but not what is left of it: attach fails, the driver is closed
            try (HmmEngine engine = HmmEngine.create(EngineConfig.of(1 << 20))) {
                assertThatThrownBy(() -> DeviceSource.attach(engine, gpu.open("gpu1", 512L << 20, 1), null, null))
                        .isInstanceOf(CudaException.class).hasMessageContaining("OUT_OF_MEMORY");
            }
            assertThat(h.liveDeviceBytes()).isEqualTo(inUse);
            assertThat(h.retainedContexts()).isEqualTo(inUseContexts);
        }
        assertThat(h.liveDeviceBytes()).isEqualTo(bytes);
        assertThat(h.retainedContexts()).isEqualTo(contexts);
    }
}
