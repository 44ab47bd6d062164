package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * Symmetric int8 quantization with one scale per output channel (row): {@code scale = max|w| / levels},
 * {@code q = round(w / scale)}, so every weight comes back within {@code scale / 2}. Done in float32
 * whatever the model's dtype, on the arrays' own device (the loader's scratch, the CPU).
 */
final class Int8Quantizer {

    /** The smallest scale given to a row of zeros (any positive scale reproduces it exactly). */
    private static final float TINY = 1e-12f;

    private Int8Quantizer() {
    }

    /**
     * @param values int8 {@code [out, in]}
     * @param scales float32 {@code [out]}
     */
    record Int8Matrix(NDArray values, NDArray scales) {

        /** {@code values * scales}, float32. */
        NDArray dequantize() {
            return values.toType(DataType.FLOAT32, false).mul(scales.reshape(-1, 1));
        }
    }

    /** {@code weight [out, in]} quantized to {@code [-levels, levels]}, row by row; the result is new arrays in weight's manager. */
    static Int8Matrix quantize(NDArray weight, int levels) {
        if (levels < 1 || levels > 127) {
            throw new IllegalArgumentException("int8 levels must be in [1, 127], not " + levels);
        }
        NDArray w = weight.toType(DataType.FLOAT32, false);
        NDArray scales = w.abs().max(new int[] {1}).div(levels).maximum(TINY);
        NDArray values = w.div(scales.reshape(-1, 1)).round().clip(-levels, levels).toType(DataType.INT8, false);
        return new Int8Matrix(values, scales);
    }

    /**
     * The largest level fbgemm's kernel multiplies without overflow on this CPU. With AVX-512 VNNI its
     * uint8 x int8 products accumulate in 32 bits, so the full 127; without, pairs of products are
     * summed in 16 bits with saturation (255 x 127 x 2 > 32767), so the weights get 7 bits
     * (255 x 63 x 2 fits) rather than letting a saturated sum through. Unknown CPUs take the safe 63.
     */
    static int levelsForThisCpu() {
        try {
            return hasVnni(Files.readString(Path.of("/proc/cpuinfo"))) ? 127 : 63;
        } catch (IOException | RuntimeException e) {
            return 63;
        }
    }

    static boolean hasVnni(String cpuinfo) {
        return Pattern.compile("^flags\\s*:.*\\bavx512_vnni\\b", Pattern.MULTILINE).matcher(cpuinfo).find();
    }
}
