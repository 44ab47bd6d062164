package io.spillway.models.checkpoint;

/**
 * How an int4 checkpoint stores its projections, each as {@code qweight}, {@code qzeros} and
 * {@code scales} in place of {@code weight} (dequantized: {@code w = (q - z) * s} per group of
 * input channels). Both pack eight 4-bit values into an int32, low nibble first, and store the
 * scales {@code [groups, out]}; they differ in what the eight values are.
 */
public enum Int4Packing {
    /**
     * AutoAWQ's GEMM layout: {@code qweight [in, out / 8]} and {@code qzeros [groups, out / 8]},
     * each int32 holding eight output channels in the order 0, 2, 4, 6, 1, 3, 5, 7; zero points as
     * they are.
     */
    AWQ("awq", 0),
    /**
     * AutoGPTQ's layout: {@code qweight [in / 8, out]}, each int32 holding eight consecutive input
     * channels; {@code qzeros [groups, out / 8]} holding eight consecutive output channels, each
     * stored as its zero point minus one (a historical off-by-one every reader adds back);
     * {@code g_idx [in]} maps input channels to groups.
     */
    GPTQ("gptq", 1),
    /** GPTQModel's {@code checkpoint_format: gptq_v2}: GPTQ's layout with the zero points as they are. */
    GPTQ_V2("gptq", 0);

    private final String method;
    private final int zeroOffset;

    Int4Packing(String method, int zeroOffset) {
        this.method = method;
        this.zeroOffset = zeroOffset;
    }

    /** The {@code quant_method} of config.json. */
    public String method() {
        return method;
    }

    /** What to add to a stored zero point to get the one the dequantization subtracts. */
    public int zeroOffset() {
        return zeroOffset;
    }

    /** Whether qweight's int32 words pack input channels (GPTQ) rather than output channels (AWQ). */
    public boolean packsInputChannels() {
        return this != AWQ;
    }
}
