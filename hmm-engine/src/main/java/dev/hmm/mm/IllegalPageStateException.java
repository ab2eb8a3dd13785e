package dev.hmm.mm;

/**
 * A frame was asked to make a transition that the {@link PageState} machine does not allow from its current state.
 * Always an engine (or driver) bug, never a benign race: races are reported by the {@code try} methods instead.
 */
public final class IllegalPageStateException extends IllegalStateException {
    private final long pfn;
    private final PageState current;
    private final PageState from;
    private final PageState to;

    IllegalPageStateException(long pfn, PageState current, PageState from, PageState to) {
        super("frame " + Pfn.toString(pfn) + ": state " + current + ", attempted " + from + " -> " + to
                + (PageState.isLegal(from, to) ? "" : " (not an edge of the state machine)"));
        this.pfn = pfn;
        this.current = current;
        this.from = from;
        this.to = to;
    }

    public long pfn() {
        return pfn;
    }

    public PageState current() {
        return current;
    }

    public PageState from() {
        return from;
    }

    public PageState to() {
        return to;
    }
}
