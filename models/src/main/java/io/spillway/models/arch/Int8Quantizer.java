package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * int8 quantization, in float32 whatever the model's dtype, on the arrays' own device (the loader's
 * scratch, the CPU). For Spillway's kernel, symmetric with a scale per output and 32 inputs
 * ({@link #blocksOf32}). For fbgemm's, one scale per output channel (row), asymmetric: a row's own
 * [min, max] (widened to hold 0, so that its zero point is a level) spread over all {@code 2 levels
 * + 1} levels, where a symmetric grid spends up to half of them on a side the row barely reaches;
 * fbgemm applies per-channel zero points in its output stage, at no cost per step. Measured on
 * stories260K (weights alone, activations in float32, docs/int8-accuracy.md): KL to float32 20.2
 * mnat/token symmetric per row, 14.3 asymmetric, over the reference continuations (34.0 and 23.9
 * over sampled ones). The embedding table stays symmetric per row: the decoder script rescales its
 * gathered rows with one multiply and has no zero point to subtract.
 */
final class Int8Quantizer {

    /** The smallest scale given to a row of zeros (any positive scale reproduces it exactly). */
    private static final float TINY = 1e-12f;

    private Int8Quantizer() {
    }

    /**
     * {@code w = scale * (values - zeroPoint)}, per row.
     *
     * @param values     int8 {@code [out, in]}
     * @param scales     float32 {@code [out]}
     * @param zeroPoints int64 {@code [out]}, all 0 when symmetric
     */
    record Int8Matrix(NDArray values, NDArray scales, NDArray zeroPoints) {

        /** {@code (values - zeroPoints) * scales}, float32. */
        NDArray dequantize() {
            return values.toType(DataType.FLOAT32, false).sub(zeroPoints.toType(DataType.FLOAT32, false).reshape(-1, 1))
                    .mul(scales.reshape(-1, 1));
        }

        void close() {
            values.close();
            scales.close();
            zeroPoints.close();
        }
    }

    /**
     * {@code w = values * scales} in blocks of 32 inputs: values int8 {@code [out, padded]} (padded, the
     * inputs rounded up to a multiple of 32, zeros past them), scales float32 {@code [out, padded / 32]}.
     */
    record Int8Blocks(NDArray values, NDArray scales) {

        /** {@code [out, padded]} float32, the padding's zeros included. */
        NDArray dequantize() {
            long out = values.getShape().get(0);
            return values.toType(DataType.FLOAT32, false).reshape(out, -1, BLOCK).mul(scales.expandDims(2)).reshape(out, -1);
        }

        void close() {
            values.close();
            scales.close();
        }
    }

    /** Inputs per scale of {@link #blocksOf32}. */
    static final int BLOCK = 32;

    /**
     * {@code weight [out, in]} quantized to {@code [-127, 127]} with one scale per output and 32
     * inputs (llama.cpp's Q8_0 grid), for {@code spillway::int8_linear}; the result is new arrays in
     * weight's manager. A scale per block follows the weights' local range, where one per row lets
     * its largest weight set every other's step: on stories260K (weights alone) KL 15.6 mnat/token
     * against 20.2 symmetric per row and 14.3 asymmetric per row (docs/int8-accuracy.md).
     */
    static Int8Blocks blocksOf32(NDArray weight) {
        NDArray w = weight.toType(DataType.FLOAT32, false);
        long out = w.getShape().get(0);
        long in = w.getShape().get(1);
        long padded = (in + BLOCK - 1) / BLOCK * BLOCK;
        if (padded > in) {
            w = w.concat(w.getManager().zeros(new Shape(out, padded - in), DataType.FLOAT32), 1);
        }
        NDArray blocks = w.reshape(out, padded / BLOCK, BLOCK);
        NDArray scales = blocks.abs().max(new int[] {2}).div(127).maximum(TINY);
        NDArray values = blocks.div(scales.expandDims(2)).round().clip(-127, 127).toType(DataType.INT8, false).reshape(out, padded);
        return new Int8Blocks(values, scales);
    }

    /** {@code weight [out, in]} quantized to {@code [-levels, levels]}, row by row; the result is new arrays in weight's manager. */
    static Int8Matrix symmetric(NDArray weight, int levels) {
        requireLevels(levels);
        NDArray w = weight.toType(DataType.FLOAT32, false);
        NDArray scales = w.abs().max(new int[] {1}).div(levels).maximum(TINY);
        NDArray values = w.div(scales.reshape(-1, 1)).round().clip(-levels, levels).toType(DataType.INT8, false);
        return new Int8Matrix(values, scales, scales.zerosLike().toType(DataType.INT64, false));
    }

    /**
     * {@code weight [out, in]} quantized to {@code [-levels - 1, levels]} with a zero point per row,
     * so that every weight comes back within half its row's scale; the result is new arrays in weight's manager.
     */
    static Int8Matrix asymmetric(NDArray weight, int levels) {
        requireLevels(levels);
        NDArray w = weight.toType(DataType.FLOAT32, false);
        NDArray low = w.min(new int[] {1}).minimum(0f);
        NDArray high = w.max(new int[] {1}).maximum(0f);
        NDArray scales = high.sub(low).div(2 * levels + 1).maximum(TINY);
        // The level that stands for 0: low lands on -levels - 1 (up to rounding, hence the clip).
        NDArray zeroPoints = low.div(scales).neg().sub(levels + 1).round().clip(-levels - 1, levels);
        NDArray values = w.div(scales.reshape(-1, 1)).round().add(zeroPoints.reshape(-1, 1)).clip(-levels - 1, levels)
                .toType(DataType.INT8, false);
        return new Int8Matrix(values, scales, zeroPoints.toType(DataType.INT64, false));
    }

    private static void requireLevels(int levels) {
        if (levels < 1 || levels > 127) {
            throw new IllegalArgumentException("int8 levels must be in [1, 127], not " + levels);
        }
    }

    /**
     * The largest level fbgemm's kernel multiplies without overflow on this CPU. With AVX-512 VNNI its
     * uint8 x int8 products accumulate in 32 bits, so the full 127 (values down to -128); without,
     * pairs of products are summed in 16 bits with saturation (255 x 127 x 2 > 32767), so the weights
     * get 7 bits (255 x 64 x 2 fits) rather than letting a saturated sum through. Unknown CPUs take the safe 63.
     */
    static int levelsForThisCpu() {
        try {
            return hasVnni(Files.readString(Path.of("/proc/cpuinfo"))) ? 127 : 63;
        } catch (IOException | RuntimeException e) {
            return 63;
        }
    }

    static boolean hasVnni(String cpuinfo) {
        return hasFlag(cpuinfo, "avx512_vnni");
    }

    /** Whether {@code cpuinfo} (the text of /proc/cpuinfo) lists {@code flag} among a processor's flags. */
    static boolean hasFlag(String cpuinfo, String flag) {
        return Pattern.compile("^flags\\s*:.*\\b" + Pattern.quote(flag) + "\\b", Pattern.MULTILINE).matcher(cpuinfo).find();
    }
}
