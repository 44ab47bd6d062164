package io.spillway.vectors;

import java.util.Locale;

/**
 * How closeness is measured. Scores are always "higher is closer": cosine similarity, dot product,
 * or the negated Euclidean distance.
 */
public enum Metric {
    /** Vectors are normalized on the way in, so the graph searches by inner product. */
    COSINE,
    DOT,
    EUCLIDEAN;

    public static Metric parse(String name) {
        try {
            return valueOf(name.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown metric '" + name + "': use cosine, dot or euclidean", e);
        }
    }

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The vector as the graph stores it (a copy, normalized for cosine). */
    float[] prepare(float[] vector) {
        float[] copy = vector.clone();
        for (float x : copy) {
            if (!Float.isFinite(x)) {
                throw new IllegalArgumentException("vector has a non-finite component");
            }
        }
        if (this == COSINE) {
            double norm = Math.sqrt(Distances.dot(copy, copy));
            if (norm == 0) {
                throw new IllegalArgumentException("a zero vector has no direction: cosine similarity is undefined");
            }
            for (int i = 0; i < copy.length; i++) {
                copy[i] = (float) (copy[i] / norm);
            }
        }
        return copy;
    }

    /** The graph's distance turned into a score. */
    float score(float distance) {
        return this == EUCLIDEAN ? -distance : 1f - distance;
    }
}
