package io.spillway.models.sampling;

/**
 * One token to draw in a step: from logits row {@code row}, for the sample {@code state}. Several
 * draws may share a row: the samples of a request with n &gt; 1 fork from one prompt's logits.
 */
public record Draw(int row, SampleState state) {
    public Draw {
        if (row < 0) {
            throw new IllegalArgumentException("logits row " + row);
        }
    }
}
