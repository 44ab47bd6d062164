package io.spillway.models.testing;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.checkpoint.SafetensorsCheckpoint;
import io.spillway.models.checkpoint.SafetensorsWriter;
import io.spillway.models.checkpoint.TensorDType;
import io.spillway.models.runtime.TorchRuntime;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/**
 * Turns a float checkpoint into an AWQ- or GPTQ-format one, written independently of the loader
 * from the formats' descriptions (AutoAWQ's GEMM packing, AutoGPTQ's v1 layout), and beside it the
 * float checkpoint of exactly the weights the int4 one stands for (each value dequantized from the
 * stored 4-bit value, zero point and float16 scale), which a loaded int4 model must reproduce.
 *
 * <p>Quantization is round-to-nearest per group of input channels with a zero point, as AutoAWQ's
 * {@code pseudo_quantize_tensor} does it: {@code scale = (max - min) / 15}, {@code zero =
 * round(-min / scale)} clamped to 0..15. GPTQ's v1 format stores {@code zero - 1}, so there the
 * zero point is kept at 1 or more (a stored -1 would read back as 15 + 1 = 16).
 */
public final class Int4CheckpointWriter {

    /** Which layout to write. */
    public enum Format {
        AWQ, GPTQ
    }

    /** AutoAWQ packs output channel ORDER[i] of each group of eight at nibble i. */
    private static final int[] AWQ_ORDER = {0, 2, 4, 6, 1, 3, 5, 7};
    private static final int[] SEQUENTIAL = {0, 1, 2, 3, 4, 5, 6, 7};
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Format format;
    private final int groupSize;
    private int[] awqOrder = AWQ_ORDER;
    private Set<String> keptFloat = Set.of();

    /** @param groupSize input channels per group, or -1 for one group per output channel */
    public Int4CheckpointWriter(Format format, int groupSize) {
        this.format = format;
        this.groupSize = groupSize;
    }

    /** Packs AWQ words in channel order instead of AutoAWQ's: a deliberately wrong checkpoint, for tests that must catch it. */
    public Int4CheckpointWriter sequentialAwqOrder() {
        this.awqOrder = SEQUENTIAL;
        return this;
    }

    /** Leaves these projections (e.g. {@code model.layers.0.mlp.down_proj}) float, as AWQ's modules_to_not_convert does. */
    public Int4CheckpointWriter keepingFloat(Set<String> projections) {
        this.keptFloat = Set.copyOf(projections);
        return this;
    }

    /** The two checkpoints written. */
    public record Written(Path int4, Path dequantized) {
    }

    /** Reads the float checkpoint in {@code source} and writes {@code int4} and {@code dequantized} directories. */
    public Written write(Path source, Path int4, Path dequantized) throws IOException {
        ObjectNode config = (ObjectNode) JSON.readTree(Files.readString(source.resolve("config.json")));
        ModelConfig c = ModelConfig.parse(config);
        SafetensorsWriter quantized = new SafetensorsWriter();
        SafetensorsWriter reference = new SafetensorsWriter();
        TorchRuntime.engine();
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(source);
             NDManager manager = NDManager.newBaseManager()) {
            for (Map.Entry<String, long[]> e : TinyCheckpoint.tensorShapes(c).entrySet()) {
                String name = e.getKey();
                long[] shape = e.getValue();
                float[] values;
                try (NDManager scratch = manager.newSubManager()) {
                    values = checkpoint.read(name, shape, scratch).toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray();
                }
                String prefix = name.substring(0, name.length() - ".weight".length());
                if (name.endsWith("_proj.weight") && name.startsWith("model.layers.") && !keptFloat.contains(prefix)) {
                    reference.add(name, TensorDType.F32, shape, quantize(prefix, values, (int) shape[0], (int) shape[1], quantized));
                } else {
                    quantized.add(name, TensorDType.F16, shape, values);
                    reference.add(name, TensorDType.F32, shape, roundToF16(values));
                }
            }
        }
        Files.createDirectories(int4);
        Files.createDirectories(dequantized);
        reference.write(dequantized.resolve(SafetensorsCheckpoint.SINGLE_FILE));
        Files.writeString(dequantized.resolve("config.json"), JSON.writeValueAsString(config));
        quantized.write(int4.resolve(SafetensorsCheckpoint.SINGLE_FILE));
        ObjectNode q = config.putObject("quantization_config");
        q.put("bits", 4);
        q.put("group_size", groupSize);
        if (format == Format.AWQ) {
            q.put("quant_method", "awq");
            q.put("version", "gemm");
            q.put("zero_point", true);
        } else {
            q.put("quant_method", "gptq");
            q.put("desc_act", false);
            q.put("sym", false);
            q.put("checkpoint_format", "gptq");
        }
        Files.writeString(int4.resolve("config.json"), JSON.writeValueAsString(config));
        return new Written(int4, dequantized);
    }

    /**
     * Quantizes {@code w [out][in]} (row-major), adds its int4 tensors under {@code prefix} to
     * {@code out}, and returns the dequantized weight.
     */
    private float[] quantize(String prefix, float[] w, int outputs, int inputs, SafetensorsWriter out) {
        int group = groupSize == -1 ? inputs : groupSize;
        if (inputs % group != 0 || outputs % 8 != 0 || inputs % 8 != 0) {
            throw new IllegalArgumentException(prefix + ": " + outputs + " x " + inputs + " does not pack in groups of " + group);
        }
        int groups = inputs / group;
        int minZero = format == Format.GPTQ ? 1 : 0;
        int[][] q = new int[outputs][inputs];
        int[][] zeros = new int[groups][outputs];
        float[] scales = new float[groups * outputs];
        float[] dequantized = new float[outputs * inputs];
        for (int o = 0; o < outputs; o++) {
            for (int g = 0; g < groups; g++) {
                float min = Float.MAX_VALUE;
                float max = -Float.MAX_VALUE;
                for (int i = g * group; i < (g + 1) * group; i++) {
                    min = Math.min(min, w[o * inputs + i]);
                    max = Math.max(max, w[o * inputs + i]);
                }
                // The scale as float16 stores it, so that the values are rounded against the scale a reader sees.
                float scale = Float.float16ToFloat(Float.floatToFloat16(Math.max(max - min, 1e-5f) / 15));
                int zero = Math.clamp(Math.round(-min / scale), minZero, 15);
                scales[g * outputs + o] = scale;
                zeros[g][o] = zero;
                for (int i = g * group; i < (g + 1) * group; i++) {
                    int v = Math.clamp(Math.round(w[o * inputs + i] / scale) + zero, 0, 15);
                    q[o][i] = v;
                    dequantized[o * inputs + i] = (v - zero) * scale;
                }
            }
        }
        out.add(prefix + ".scales", TensorDType.F16, new long[] {groups, outputs}, scales);
        if (format == Format.AWQ) {
            int[] qweight = new int[inputs * outputs / 8];
            for (int i = 0; i < inputs; i++) {
                for (int c = 0; c < outputs / 8; c++) {
                    int word = 0;
                    for (int k = 0; k < 8; k++) {
                        word |= q[8 * c + awqOrder[k]][i] << (4 * k);
                    }
                    qweight[i * (outputs / 8) + c] = word;
                }
            }
            out.addInts(prefix + ".qweight", new long[] {inputs, outputs / 8}, qweight);
            out.addInts(prefix + ".qzeros", new long[] {groups, outputs / 8}, packOutputs(zeros, awqOrder, 0));
        } else {
            int[] qweight = new int[inputs / 8 * outputs];
            for (int r = 0; r < inputs / 8; r++) {
                for (int o = 0; o < outputs; o++) {
                    int word = 0;
                    for (int j = 0; j < 8; j++) {
                        word |= q[o][8 * r + j] << (4 * j);
                    }
                    qweight[r * outputs + o] = word;
                }
            }
            int[] gIdx = new int[inputs];
            for (int i = 0; i < inputs; i++) {
                gIdx[i] = i / group;
            }
            out.addInts(prefix + ".qweight", new long[] {inputs / 8, outputs}, qweight);
            out.addInts(prefix + ".qzeros", new long[] {groups, outputs / 8}, packOutputs(zeros, SEQUENTIAL, 1));
            out.addInts(prefix + ".g_idx", new long[] {inputs}, gIdx);
        }
        return dequantized;
    }

    /** Zero points {@code [groups][out]} packed eight outputs to a word in {@code order}, each stored minus {@code offset}. */
    private static int[] packOutputs(int[][] zeros, int[] order, int offset) {
        int groups = zeros.length;
        int outputs = zeros[0].length;
        int[] packed = new int[groups * outputs / 8];
        for (int g = 0; g < groups; g++) {
            for (int c = 0; c < outputs / 8; c++) {
                int word = 0;
                for (int k = 0; k < 8; k++) {
                    word |= ((zeros[g][8 * c + order[k]] - offset) & 15) << (4 * k);
                }
                packed[g * (outputs / 8) + c] = word;
            }
        }
        return packed;
    }

    private static float[] roundToF16(float[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = Float.float16ToFloat(Float.floatToFloat16(values[i]));
        }
        return out;
    }
}
