package dev.hmm.mm;

import static dev.hmm.mm.Fixture.PAGE;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** {@code migrate_device_range} as eviction uses it: a frame chosen from the LRU may hold another page by the time. */
class MigrateDeviceTest {

    // A frame chosen while it held page A, then freed and handed to page B, must not take B with it: the choice is
    // stale. Eviction compares the frame's reverse map with the one recorded at the choice.
    @Test
    void a_frame_reused_since_it_was_chosen_is_left_alone() {
        try (Fixture f = new Fixture(MemoryType.DEVICE_PRIVATE, 8L << 20, 8L << 20)) {
            long va = f.mm.mmap(2 * PAGE, Prot.READ_WRITE);
            long a = va;
            long b = va + PAGE;
            f.device.touch(f.mm, a, 1, AccessType.WRITE);
            int frame = Pfn.index(f.mm.page(a).pfn());
            long chosen = f.device.node().table.laRmap(frame);
            f.mm.touch(a, 1, AccessType.READ); // CPU touch of device-private memory: A goes back to RAM
            f.device.touch(f.mm, b, 1, AccessType.WRITE); // the free list is LIFO: B gets A's old frame
            assertThat(Pfn.index(f.mm.page(b).pfn())).as("B reuses the frame").isEqualTo(frame);

            MigrateResult[] res = new MigrateResult[1];
            int evicted = f.engine.migrateDevice.evict(f.device, new int[] {frame}, new long[] {chosen}, 1, res);
            assertThat(evicted).isZero();
            assertThat(res[0]).isEqualTo(MigrateResult.BUSY);
            assertThat(f.mm.page(b).isOn(f.device.node())).isTrue();

            long current = f.device.node().table.laRmap(frame);
            evicted = f.engine.migrateDevice.evict(f.device, new int[] {frame}, new long[] {current}, 1, res);
            assertThat(evicted).isEqualTo(1);
            assertThat(res[0]).isEqualTo(MigrateResult.MIGRATED);
            assertThat(f.mm.page(b).memoryType()).isEqualTo(MemoryType.SYSTEM_RAM);
            assertThat(f.engine.check()).isEmpty();
        }
    }
}
