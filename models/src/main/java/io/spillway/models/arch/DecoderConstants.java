package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.List;

/**
 * The decoder script's arguments that are the same at every step, as it takes them: the last
 * parameter of {@code Decoder.forward}, a tuple of these components in this order. Built once at
 * load and checked here, against each other, so that a loader mistake fails with a message naming
 * the tensor instead of as a shape error deep inside libtorch at the first step.
 *
 * @param embedding       {@code [vocab, hidden]}, in the model's dtype or int8
 * @param embeddingScales an int8 embedding's row scales {@code [vocab]} in the model's dtype, else empty
 * @param layers          per layer, its weights
 * @param finalNorm       the final RMSNorm's weight, {@code [hidden]}; its dtype is the model's
 * @param lmHead          the LM head in its {@link Projection} layout, {@code vocab} output rows, or
 *                        empty when it is int8
 * @param packed          the int8 projections for fbgemm: none, four per layer, or four per layer and the
 *                        LM head; or the LM head alone, beside int4 layers
 * @param grouped         the projections quantized in groups along their inputs: an int4 checkpoint's
 *                        or int8 on load for Spillway's kernel, four per layer, then the LM head's
 *                        when it is int8 and not in {@code packed}; or none
 * @param onednn          a float32 model's projections packed for oneDNN: four per layer and the LM head, or none
 * @param cosTable  RoPE's cosines {@code [positions, headDim]}
 * @param sinTable  RoPE's sines with rotate-half's sign folded in, {@code [positions, headDim]}
 * @param eps       RMSNorm's epsilon
 * @param heads     query heads
 * @param kvHeads   key/value heads (a divisor of {@code heads})
 * @param headDim   size of one head
 */
public record DecoderConstants(NDArray embedding, NDArray embeddingScales, List<LayerWeights> layers, NDArray finalNorm,
                               NDArray lmHead, Int8Weights packed, GroupedWeights grouped, OneDnnWeights onednn, NDArray cosTable,
                               NDArray sinTable, double eps, int heads, int kvHeads, int headDim) {

    public DecoderConstants {
        layers = List.copyOf(layers);
        if (layers.isEmpty() || heads < 1 || kvHeads < 1 || heads % kvHeads != 0 || headDim < 1) {
            throw new IllegalArgumentException(layers.size() + " layers, " + heads + " heads, " + kvHeads + " kv heads, head size "
                    + headDim + ": a decoder needs layers, and kv heads that divide the heads");
        }
        DataType dtype = finalNorm.getDataType();
        long vocab = embedding.getShape().get(0);
        long hidden = embedding.getShape().get(1);
        require("final norm", finalNorm, dtype, new Shape(hidden));
        if (embedding.getDataType() == DataType.INT8) {
            require("embedding scales", embeddingScales, dtype, new Shape(vocab));
        } else {
            require("embedding", embedding, dtype, null);
            requireOptional("embedding scales", embeddingScales, dtype, 0);
        }
        int n = layers.size();
        if (packed.size() > 1 && packed.size() != 4 * n && packed.size() != 4 * n + 1) {
            throw new IllegalArgumentException(packed.size() + " packed int8 projections: a model of " + n
                    + " layers has none, 1 (its LM head, beside int4 layers), " + 4 * n + " (its layers) or " + (4 * n + 1) + " (and its LM head)");
        }
        if (grouped.size() != 0 && ((grouped.size() != 4 * n && grouped.size() != 4 * n + 1) || packed.size() > 1
                || (grouped.size() == 4 * n + 1 && packed.size() != 0))) {
            throw new IllegalArgumentException(grouped.size() + " grouped projections beside " + packed.size() + " int8 ones: a model of "
                    + n + " layers has none, " + 4 * n + " (its layers) or " + (4 * n + 1)
                    + " (and its LM head), with no int8 ones but the LM head's when that is not among them");
        }
        if (packed.size() == 1 && grouped.size() == 0) {
            throw new IllegalArgumentException("an int8 LM head alone is for int4 layers; this model has none");
        }
        if (onednn.size() != 0 && (onednn.size() != 4 * n + 1 || packed.size() != 0 || grouped.size() != 0 || dtype != DataType.FLOAT32)) {
            throw new IllegalArgumentException(onednn.size() + " oneDNN projections in a " + dtype + " model beside " + packed.size()
                    + " int8 and " + grouped.size() + " grouped ones: a float32 model of " + n + " layers has none or " + (4 * n + 1)
                    + " (its layers and LM head), and no quantized ones with them");
        }
        require("LM head", lmHead, dtype, null);
        if (packed.size() == 4 * n + 1 || packed.size() == 1) {
            requireEmpty("LM head", lmHead);
            requirePacked("LM head", packed, packed.size() - 1, vocab, hidden);
        } else if (grouped.size() == 4 * n + 1) {
            requireLayerProjection("LM head", lmHead, grouped, 4 * n, vocab, hidden);
        } else {
            requireProjection("LM head", lmHead, vocab, hidden);
        }
        require("RoPE cosines", cosTable, dtype, null);
        require("RoPE sines", sinTable, dtype, cosTable.getShape());
        if (cosTable.getShape().dimension() != 2 || cosTable.getShape().get(1) != headDim) {
            throw new IllegalArgumentException("RoPE tables are " + cosTable.getShape() + ", not [positions, " + headDim + "]");
        }
        if (!(eps > 0 && eps < 1)) {
            throw new IllegalArgumentException("RMSNorm epsilon " + eps + " is not in (0, 1)");
        }
        for (int i = 0; i < layers.size(); i++) {
            requireLayer(i, layers.get(i), dtype, hidden, heads, kvHeads, headDim, packed.size() <= 1 ? null : packed,
                    grouped.size() == 0 ? null : grouped);
        }
        if (onednn.size() != 0) {
            requireOneDnn(layers, lmHead, onednn);
        }
    }

    /** Static: a compact constructor runs before the fields it validates are assigned. */
    private static void requireLayer(int i, LayerWeights w, DataType dtype, long hidden, int heads, int kvHeads, int headDim,
                                     Int8Weights packed, GroupedWeights grouped) {
        String layer = "layer " + i + "'s ";
        long qkvRows = (long) (heads + 2 * kvHeads) * headDim;
        for (NDArray weight : List.of(w.qkv(), w.output(), w.gateUp(), w.down())) {
            require(layer + "weights", weight, dtype, null);
        }
        long gateUpRows;
        if (packed != null) {
            for (NDArray weight : List.of(w.qkv(), w.output(), w.gateUp(), w.down())) {
                requireEmpty(layer + "int8 projections' weights", weight);
            }
            gateUpRows = packed.shape(4 * i + 2).get(0);
            requirePacked(layer + "qkv weight", packed, 4 * i, qkvRows, hidden);
            requirePacked(layer + "o weight", packed, 4 * i + 1, hidden, (long) heads * headDim);
            requirePacked(layer + "gate-up weight", packed, 4 * i + 2, gateUpRows, hidden);
            requirePacked(layer + "down weight", packed, 4 * i + 3, hidden, gateUpRows / 2);
        } else {
            gateUpRows = grouped != null && grouped.packed(4 * i + 2) ? grouped.shape(4 * i + 2).get(0) : rows(w.gateUp());
            requireLayerProjection(layer + "qkv weight", w.qkv(), grouped, 4 * i, qkvRows, hidden);
            requireLayerProjection(layer + "o weight", w.output(), grouped, 4 * i + 1, hidden, (long) heads * headDim);
            requireLayerProjection(layer + "gate-up weight", w.gateUp(), grouped, 4 * i + 2, gateUpRows, hidden);
            requireLayerProjection(layer + "down weight", w.down(), grouped, 4 * i + 3, hidden, gateUpRows / 2);
        }
        requireOptional(layer + "input norm", w.inputNorm(), dtype, hidden);
        requireOptional(layer + "post-attention norm", w.postAttentionNorm(), dtype, hidden);
        requireOptional(layer + "qkv bias", w.qkvBias(), dtype, qkvRows);
        requireOptional(layer + "q/k norm", w.qkNorm(), dtype, (long) (heads + kvHeads) * headDim);
        requireOptional(layer + "o bias", w.outputBias(), dtype, hidden);
        requireOptional(layer + "gate-up bias", w.gateUpBias(), dtype, gateUpRows);
        requireOptional(layer + "down bias", w.downBias(), dtype, hidden);
    }

    /** Each packed entry holds its plain weight's {@code [out, in]}: the layers' four each, then the LM head's. */
    private static void requireOneDnn(List<LayerWeights> layers, NDArray lmHead, OneDnnWeights onednn) {
        List<NDArray> plain = new ArrayList<>();
        for (LayerWeights w : layers) {
            plain.addAll(List.of(w.qkv(), w.output(), w.gateUp(), w.down()));
        }
        plain.add(lmHead);
        for (int e = 0; e < plain.size(); e++) {
            Shape s = plain.get(e).getShape();
            Shape expected = new Shape(rows(plain.get(e)), s.get(s.dimension() - 1));
            if (onednn.packed(e) && !onednn.shape(e).equals(expected)) {
                String owner = e < 4 * layers.size() ? "layer " + e / 4 + "'s" : "the LM head's";
                throw new IllegalArgumentException(owner + " oneDNN entry " + e + " is " + onednn.shape(e) + ", its plain weight "
                        + expected);
            }
        }
    }

    /** A weight in a Projection layout: {@code [out, in]}, or {@code [parts, out / parts, in]}. */
    private static void requireProjection(String what, NDArray weight, long out, long in) {
        Shape s = weight.getShape();
        if (s.dimension() < 2 || s.dimension() > 3 || rows(weight) != out || s.get(s.dimension() - 1) != in) {
            throw new IllegalArgumentException(what + " is " + s + ": it should map " + in + " inputs to " + out + " outputs");
        }
    }

    /** A float weight in a Projection layout, or an empty one beside the grouped entry that holds it. */
    private static void requireLayerProjection(String what, NDArray weight, GroupedWeights grouped, int index, long out, long in) {
        if (grouped == null || !grouped.packed(index)) {
            requireProjection(what, weight, out, in);
            return;
        }
        if (weight.size() != 0) {
            throw new IllegalArgumentException(what + " should be empty: grouped entry " + index + " holds it, not " + weight.getShape());
        }
        if (!grouped.shape(index).equals(new Shape(out, in))) {
            throw new IllegalArgumentException(what + " (grouped entry " + index + ") is " + grouped.shape(index) + ": it should map " + in
                    + " inputs to " + out + " outputs");
        }
    }

    private static void requirePacked(String what, Int8Weights packed, int index, long out, long in) {
        if (!packed.shape(index).equals(new Shape(out, in))) {
            throw new IllegalArgumentException(what + " (packed int8 entry " + index + ") is " + packed.shape(index)
                    + ": it should map " + in + " inputs to " + out + " outputs");
        }
    }

    private static void requireEmpty(String what, NDArray array) {
        if (array.size() != 0) {
            throw new IllegalArgumentException(what + " should be empty: the packed int8 entry holds it, not " + array.getShape());
        }
    }

    private static long rows(NDArray weight) {
        Shape s = weight.getShape();
        return s.dimension() == 3 ? s.get(0) * s.get(1) : s.get(0);
    }

    /** Empty (the model has none), or {@code entries} values in any shape that holds them. */
    private static void requireOptional(String what, NDArray array, DataType dtype, long entries) {
        require(what, array, dtype, null);
        if (array.size() != 0 && array.size() != entries) {
            throw new IllegalArgumentException(what + " has " + array.size() + " values, not " + entries + " (or none)");
        }
    }

    private static void require(String what, NDArray array, DataType dtype, Shape shape) {
        if (array.getDataType() != dtype) {
            throw new IllegalArgumentException(what + " is " + array.getDataType() + ", the model runs in " + dtype);
        }
        if (shape != null && !array.getShape().equals(shape)) {
            throw new IllegalArgumentException(what + " is " + array.getShape() + ", not " + shape);
        }
    }
}
