package dev.hmm.sim;

/**
 * The built-in workloads of {@code ./hmm simulate}. Each access touches one page (REAL: reads are checked against
 * the shadow copy, writes recorded in it).
 */
public enum Workload {
    /**
     * CPU and devices take turns over one buffer: in each round the CPU threads write and check every page, then the
     * device threads check and rewrite every page. Every page crosses the link both ways each round (CPU faults on
     * device-private pages, device faults on RAM pages): the migration ping-pong of GPU offload loops. With several
     * devices the pages rotate between them from round to round.
     */
    PINGPONG,
    /**
     * The CPU initialises the buffer, then device threads stream through it in address order, one contiguous share
     * each, alternating read and write passes (a GPU kernel sweeping its input); the CPU checks it at the end.
     */
    STREAM,
    /**
     * CPU and device threads access uniformly random pages, half reads and half writes (a quarter of device writes are
     * atomics), until the access budget is spent: contention on pages, faults both ways, concurrent migrations of the
     * same pages, device exclusivity taken and revoked under {@code --atomics exclusive}.
     */
    RANDOM
}
