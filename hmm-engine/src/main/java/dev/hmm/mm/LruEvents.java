package dev.hmm.mm;

import java.util.Arrays;

/**
 * Insertions and removals of device frames gathered during one operation (a migration chunk, an unmap, an eviction
 * batch) and published to each device's {@link LruSurrogate} in one queue offer, so the LRU costs no queue operation
 * per page. Frames of nodes without an LRU are ignored. Not thread-safe; one per operation.
 */
final class LruEvents {
    private MemoryNode[] nodes = new MemoryNode[2];
    private int[][] values = new int[2][];
    private int[] counts = new int[2];
    private int used;

    void insert(MemoryNode node, int frame) {
        add(node, frame);
    }

    void remove(MemoryNode node, int frame) {
        add(node, ~frame);
    }

    private void add(MemoryNode node, int v) {
        if (node.lru == null) {
            return;
        }
        int k = 0;
        while (k < used && nodes[k] != node) {
            k++;
        }
        if (k == used) {
            if (used == nodes.length) {
                nodes = Arrays.copyOf(nodes, used * 2);
                values = Arrays.copyOf(values, used * 2);
                counts = Arrays.copyOf(counts, used * 2);
            }
            nodes[k] = node;
            values[k] = new int[16];
            counts[k] = 0;
            used++;
        }
        if (counts[k] == values[k].length) {
            values[k] = Arrays.copyOf(values[k], counts[k] * 2);
        }
        values[k][counts[k]++] = v;
    }

    /** Publishes everything gathered and starts over. */
    void publish() {
        for (int k = 0; k < used; k++) {
            nodes[k].lru.publish(values[k], counts[k]);
            nodes[k] = null;
            values[k] = null;
        }
        used = 0;
    }
}
