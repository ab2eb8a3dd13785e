package dev.hmm.mm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The per-frame state machine: every legal edge works, every illegal one is refused with a message that helps. */
class PageStateTest {

    /** Puts frame 0 of a fresh table into {@code state} through legal edges only. */
    private static FrameTable tableIn(PageState state) {
        FrameTable t = new FrameTable(3, 4, true);
        switch (state) {
            case FREE -> { }
            case ALLOCATED -> t.transition(0, PageState.FREE, PageState.ALLOCATED);
            case MAPPED -> {
                t.transition(0, PageState.FREE, PageState.ALLOCATED);
                t.transition(0, PageState.ALLOCATED, PageState.MAPPED);
            }
            case ISOLATED -> {
                t.transition(0, PageState.FREE, PageState.ALLOCATED);
                t.transition(0, PageState.ALLOCATED, PageState.MAPPED);
                assertThat(t.tryIsolate(0)).isEqualTo(FrameTable.ISOLATED);
            }
        }
        assertThat(t.state(0)).isEqualTo(state);
        return t;
    }

    @Test
    void every_legal_transition_works_and_every_illegal_one_is_refused() {
        int legal = 0;
        for (PageState from : PageState.values()) {
            for (PageState to : PageState.values()) {
                FrameTable t = tableIn(from);
                if (PageState.isLegal(from, to)) {
                    legal++;
                    t.transition(0, from, to);
                    assertThat(t.state(0)).as(from + " -> " + to).isEqualTo(to);
                } else {
                    assertThatThrownBy(() -> t.transition(0, from, to))
                            .isInstanceOf(IllegalPageStateException.class)
                            .hasMessageContaining("frame 3:0")
                            .hasMessageContaining("state " + from)
                            .hasMessageContaining("attempted " + from + " -> " + to);
                    assertThat(t.state(0)).as("refused transition left the frame alone").isEqualTo(from);
                }
            }
        }
        assertThat(legal).isEqualTo(7);
    }

    @ParameterizedTest
    @EnumSource(PageState.class)
    void a_legal_edge_from_the_wrong_state_is_refused_naming_the_current_state(PageState current) {
        FrameTable t = tableIn(current);
        for (PageState from : PageState.values()) {
            for (PageState to : PageState.values()) {
                if (!PageState.isLegal(from, to) || from == current) {
                    continue;
                }
                assertThat(t.tryTransition(0, from, to)).isFalse();
                assertThatThrownBy(() -> t.transition(0, from, to))
                        .isInstanceOf(IllegalPageStateException.class)
                        .hasMessageContaining("state " + current)
                        .satisfies(e -> assertThat(((IllegalPageStateException) e).current()).isEqualTo(current));
                assertThat(t.state(0)).isEqualTo(current);
            }
        }
    }

    @Test
    void pins_only_on_mapped_frames_and_a_pinned_frame_cannot_be_isolated() {
        FrameTable t = tableIn(PageState.ALLOCATED);
        assertThat(t.tryPin(0)).isFalse();
        t.transition(0, PageState.ALLOCATED, PageState.MAPPED);
        assertThat(t.tryPin(0)).isTrue();
        assertThat(t.tryPin(0)).isTrue();
        assertThat(t.pins(0)).isEqualTo(2);
        assertThat(t.tryIsolate(0)).isEqualTo(FrameTable.ISOLATE_PINNED);
        assertThat(t.state(0)).isEqualTo(PageState.MAPPED);
        t.unpin(0);
        t.unpin(0);
        assertThatThrownBy(() -> t.unpin(0)).hasMessageContaining("unpin without a pin");
        assertThat(t.tryIsolate(0)).isEqualTo(FrameTable.ISOLATED);
        assertThat(t.tryPin(0)).as("isolated frames take no pins").isFalse();
        assertThat(t.tryIsolate(0)).isEqualTo(FrameTable.ISOLATE_BUSY);
    }

    @Test
    void flags_survive_transitions_but_not_free() {
        FrameTable t = tableIn(PageState.MAPPED);
        t.updateFlag(0, FrameTable.FLAG_DIRTY, true);
        assertThat(t.tryIsolate(0)).isEqualTo(FrameTable.ISOLATED);
        t.transition(0, PageState.ISOLATED, PageState.MAPPED);
        assertThat(t.testFlag(0, FrameTable.FLAG_DIRTY)).isTrue();
        t.transition(0, PageState.MAPPED, PageState.FREE);
        assertThat(t.testFlag(0, FrameTable.FLAG_DIRTY)).isFalse();
    }
}
