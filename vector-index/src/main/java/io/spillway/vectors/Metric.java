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

    /**
     * The largest norm a dot-product or Euclidean vector may have: 2^62 (about 4.6e18).
     *
     * <p>The graph computes distances in float: a dot product sums a[i]·b[i], a Euclidean
     * distance sums (a[i] − b[i])². For two vectors of norm at most B those sums are bounded by B²
     * and (2B)² (Cauchy–Schwarz and the triangle inequality), so B = 2^62 keeps the largest,
     * 2^126, a quarter of {@link Float#MAX_VALUE} (just under 2^128). The quarter is headroom for
     * rounding: float summation over at most 65,536 terms errs by well under 1 %, whereas at
     * B = sqrt(MAX_VALUE) / 2 the worst case would sit exactly at the overflow threshold. Any two
     * admissible vectors (stored or queried) therefore have a finite distance and score.
     */
    public static final double MAX_NORM = 0x1p62;

    /** The vector as the graph stores it (a copy, normalized for cosine); refuses what could give a non-finite score. */
    float[] prepare(float[] vector) {
        float[] copy = vector.clone();
        double squares = 0;
        for (float x : copy) {
            if (!Float.isFinite(x)) {
                throw new IllegalArgumentException("vector has a non-finite component");
            }
            // In double: a float sum of squares overflows from components of about 1.8e19 and
            // underflows below 1e-19, either of which would wreck a cosine normalization.
            squares += (double) x * x;
        }
        double norm = Math.sqrt(squares);
        if (this == COSINE) {
            if (norm == 0) {
                throw new IllegalArgumentException("a zero vector has no direction: cosine similarity is undefined");
            }
            for (int i = 0; i < copy.length; i++) {
                copy[i] = (float) (copy[i] / norm);
            }
        } else if (norm > MAX_NORM) {
            throw new IllegalArgumentException(String.format(java.util.Locale.ROOT, "vector norm %.3g exceeds %.3g (2^62), the largest a %s"
                    + " collection takes: distances to other vectors could overflow 32-bit floats", norm, MAX_NORM, wireName()));
        }
        return copy;
    }

    /**
     * The graph's distance turned into a score. Always finite: only vectors stored before norms
     * were bounded can give an infinite or undefined distance, and those rank last rather than
     * becoming a score that is not a number.
     */
    float score(float distance) {
        float score = this == EUCLIDEAN ? -distance : 1f - distance;
        return Float.isNaN(score) ? -Float.MAX_VALUE : Math.max(-Float.MAX_VALUE, Math.min(Float.MAX_VALUE, score));
    }
}
