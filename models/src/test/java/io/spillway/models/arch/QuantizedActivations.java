package io.spillway.models.arch;

/**
 * A row of activations quantized as Spillway's integer kernels specify (activation_blocks.h), computed
 * here independently of them: per 32 inputs (the last block padded with zeros) an int8 of the value
 * on the block's scale (its largest magnitude / 127) and an int8 of what that left, on a 254 times
 * finer step.
 */
record QuantizedActivations(int[] coarse, int[] fine, float[] scales) {

    static final int BLOCK = 32;
    static final float RESIDUAL_STEPS = 254f;

    static QuantizedActivations of(float[] row) {
        int blocks = (row.length + BLOCK - 1) / BLOCK;
        int[] coarse = new int[blocks * BLOCK];
        int[] fine = new int[blocks * BLOCK];
        float[] scales = new float[blocks];
        for (int b = 0; b < blocks; b++) {
            int end = Math.min(row.length, (b + 1) * BLOCK);
            float largest = 0;
            for (int i = b * BLOCK; i < end; i++) {
                largest = Math.max(largest, Math.abs(row[i]));
            }
            float inverse = largest > 0 ? 127f / largest : 0f;
            scales[b] = largest / 127f;
            for (int i = b * BLOCK; i < end; i++) {
                coarse[i] = (int) Math.rint(row[i] * inverse);
                fine[i] = (int) Math.rint(Math.fma(-coarse[i], scales[b], row[i]) * inverse * RESIDUAL_STEPS);
            }
        }
        return new QuantizedActivations(coarse, fine, scales);
    }

    /** Input {@code i} as quantized, in units of its block's scale. */
    double value(int i) {
        return coarse[i] + fine[i] / (double) RESIDUAL_STEPS;
    }

    float scale(int i) {
        return scales[i / BLOCK];
    }
}
