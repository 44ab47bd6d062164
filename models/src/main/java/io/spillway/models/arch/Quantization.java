package io.spillway.models.arch;

import java.util.Locale;

/**
 * Which weights are quantized on load, and how: the value of {@code --quantization} and
 * {@code model.quantization}.
 *
 * <p>{@code none}: every weight in the target's dtype. {@code int8}: every layer projection as
 * int8, computed in float32 from the folded weights, and the LM head too: with a scale per output
 * and 32 inputs for Spillway's kernel where it runs ({@link QuantizedKernels#SPILLWAY}), else with
 * a scale and zero point per output channel for fbgemm's; {@code int8,lm-head=float} keeps the head in the target's dtype and
 * {@code int8,embeddings=int8} quantizes the token embedding table (per row) as well.
 * {@code lm-head=int8} quantizes the LM head alone: for an int4 checkpoint, whose layers are
 * quantized already and whose head it keeps in float.
 *
 * <p>Why these defaults, measured on stories260K's reference continuations against float32, teacher
 * forced token by token (NLL change and KL per token; Int8Stories260KTest), Spillway's kernel:
 * layers int8 -0.14 %, 15.7 mnat, with the LM head int8 too -0.11 %, 15.6, with the embeddings
 * int8 too +1.01 %, 17.2; fbgemm's: +4.5 %, 34.5; +5.2 %, 34.4; +4.6 %, 40.4. The LM head costs
 * no measurable accuracy and is a fifth of a
 * SmolLM2-135M step's weight bytes, streamed at every step (2.7 ms of a batch-1 step in float32,
 * 0.4 ms in int8, measured here), so it is int8; the embedding is only gathered, never streamed, so
 * quantizing it saves memory (a tied model keeps a float table beside its packed head) but no time,
 * and it adds a fifth to the loss: it stays float unless asked.
 *
 * <p>An int4 checkpoint's float LM head is most of what its batch-1 step streams (SmolLM2-135M in
 * groups of 64: 113 of 173 MB), which is why llama.cpp stores a 4-bit model's output matrix in 6
 * bits rather than 16; int8 is the nearest format with a kernel here.
 *
 * @param layers     the decoder layers' projections
 * @param lmHead     the LM head
 * @param embeddings the token embedding table (only with {@code layers})
 */
public record Quantization(boolean layers, boolean lmHead, boolean embeddings) {

    public static final Quantization NONE = new Quantization(false, false, false);
    public static final Quantization INT8 = new Quantization(true, true, false);
    /** The LM head alone, beside the layers an int4 checkpoint quantized. */
    public static final Quantization LM_HEAD_INT8 = new Quantization(false, true, false);

    public Quantization {
        if (!layers && embeddings) {
            throw new IllegalArgumentException("the embeddings are quantized only with the layers");
        }
    }

    /**
     * {@code none}, {@code int8}, or {@code int8} followed by {@code ,lm-head=int8|float} and/or
     * {@code ,embeddings=int8|float}; or {@code lm-head=int8}.
     */
    public static Quantization parse(String text) {
        String[] parts = text.strip().toLowerCase(Locale.ROOT).split("\\s*,\\s*");
        if (parts.length == 1 && parts[0].equals("none")) {
            return NONE;
        }
        if (parts.length == 1 && parts[0].equals("lm-head=int8")) {
            return LM_HEAD_INT8;
        }
        if (!parts[0].equals("int8")) {
            throw new IllegalArgumentException("quantization must be none, int8 (optionally int8,lm-head=float and/or "
                    + "int8,embeddings=int8) or lm-head=int8, not '" + text + "'");
        }
        boolean lmHead = true;
        boolean embeddings = false;
        for (int i = 1; i < parts.length; i++) {
            String[] kv = parts[i].split("=", 2);
            boolean int8 = kv.length == 2 && kv[1].equals("int8");
            if (kv.length != 2 || !(int8 || kv[1].equals("float"))) {
                throw new IllegalArgumentException("quantization option '" + parts[i] + "' must be lm-head=int8|float or embeddings=int8|float");
            }
            switch (kv[0]) {
                case "lm-head" -> lmHead = int8;
                case "embeddings" -> embeddings = int8;
                default -> throw new IllegalArgumentException("unknown quantization option '" + kv[0] + "': lm-head or embeddings");
            }
        }
        return new Quantization(true, lmHead, embeddings);
    }

    /** Whether anything is packed as int8 on load, for fbgemm: the layers, the LM head or both. */
    public boolean packsInt8() {
        return layers || lmHead;
    }

    /** As {@link #parse} reads it back. */
    @Override
    public String toString() {
        if (!layers) {
            return lmHead ? "lm-head=int8" : "none";
        }
        return "int8" + (lmHead ? "" : ",lm-head=float") + (embeddings ? ",embeddings=int8" : "");
    }
}
