package io.spillway.vectors;

import com.github.jelmerk.hnswlib.core.Item;

/**
 * A record as the graph holds it: its vector already prepared for the metric, and the sequence
 * number of the write that produced it as its version (so a replayed older write never
 * overwrites a newer one).
 */
record StoredItem(VectorRecord record, long version) implements Item<String, float[]> {

    private static final long serialVersionUID = 1L;

    @Override
    public String id() {
        return record.id();
    }

    @Override
    public float[] vector() {
        return record.vector();
    }

    @Override
    public int dimensions() {
        return record.vector().length;
    }
}
