package io.spillway.server.embeddings;

import java.util.Locale;

/** How token embeddings become one sentence embedding, as sentence-transformers' Pooling module does. */
public enum Pooling {
    /** Average of the token vectors under the attention mask. */
    MEAN,
    /** The first token's vector ([CLS]). */
    CLS,
    /** Element-wise maximum over the tokens under the mask. */
    MAX;

    public static Pooling parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown pooling '" + s + "': use mean, cls or max", e);
        }
    }

    /**
     * Pools one row. {@code hidden} holds {@code tokens × dim} floats for this row starting at
     * {@code offset}; only the first {@code length} tokens are real (the rest is padding).
     */
    float[] pool(float[] hidden, int offset, int length, int dim) {
        float[] out = new float[dim];
        switch (this) {
            case CLS -> System.arraycopy(hidden, offset, out, 0, dim);
            case MEAN -> {
                double[] sum = new double[dim];
                for (int t = 0; t < length; t++) {
                    int base = offset + t * dim;
                    for (int d = 0; d < dim; d++) {
                        sum[d] += hidden[base + d];
                    }
                }
                for (int d = 0; d < dim; d++) {
                    out[d] = (float) (sum[d] / Math.max(1, length));
                }
            }
            case MAX -> {
                java.util.Arrays.fill(out, Float.NEGATIVE_INFINITY);
                for (int t = 0; t < length; t++) {
                    int base = offset + t * dim;
                    for (int d = 0; d < dim; d++) {
                        out[d] = Math.max(out[d], hidden[base + d]);
                    }
                }
            }
        }
        return out;
    }

    static void normalize(float[] v) {
        double norm = 0;
        for (float x : v) {
            norm += (double) x * x;
        }
        norm = Math.sqrt(norm);
        if (norm > 1e-12) {
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (v[i] / norm);
            }
        }
    }
}
