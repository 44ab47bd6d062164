package io.spillway.models.checkpoint;

/**
 * How rotary position frequencies are rescaled for long contexts, from {@code rope_scaling} (or
 * transformers 5's {@code rope_parameters}) in config.json.
 *
 * @param type                      which rescaling rule applies
 * @param factor                    the context extension factor ({@code factor})
 * @param lowFreqFactor             llama3 only: wavelengths above {@code original/lowFreqFactor} are divided by factor
 * @param highFreqFactor            llama3 only: wavelengths below {@code original/highFreqFactor} are kept
 * @param originalMaxPositions      llama3 only: the context length the model was trained on
 */
public record RopeScaling(Type type, double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {

    public enum Type {
        /** Plain RoPE: inv_freq = theta^(-2i/d). */
        NONE,
        /** Positions divided by factor (Position Interpolation). */
        LINEAR,
        /** Llama 3.1's frequency-band rescaling. */
        LLAMA3
    }

    public static final RopeScaling NONE = new RopeScaling(Type.NONE, 1, 0, 0, 0);

    /**
     * The inverse frequencies of one head, in float64, with this rescaling applied. Half a head's
     * dimensions each get one frequency (HF's rotate-half convention pairs i with i + d/2).
     */
    public double[] inverseFrequencies(int headDim, double theta) {
        double[] inv = new double[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            inv[i] = 1.0 / Math.pow(theta, (2.0 * i) / headDim);
        }
        if (type == Type.LLAMA3) {
            double lowFreqWavelen = originalMaxPositions / lowFreqFactor;
            double highFreqWavelen = originalMaxPositions / highFreqFactor;
            for (int i = 0; i < inv.length; i++) {
                double wavelen = 2 * Math.PI / inv[i];
                if (wavelen > lowFreqWavelen) {
                    inv[i] = inv[i] / factor;
                } else if (wavelen >= highFreqWavelen) {
                    double smooth = (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                    inv[i] = (1 - smooth) * inv[i] / factor + smooth * inv[i];
                }
            }
        }
        return inv;
    }

    /** The position that enters the rotation angle: linear scaling interpolates positions. */
    public double scaledPosition(int position) {
        return type == Type.LINEAR ? position / factor : position;
    }
}
