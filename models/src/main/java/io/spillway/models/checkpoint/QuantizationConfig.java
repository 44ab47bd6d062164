package io.spillway.models.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * How a checkpoint's weights are stored, from config.json's {@code quantization_config}: float
 * ({@link None}), or AWQ/GPTQ 4-bit groups ({@link Int4}). Every variant that would load wrongly
 * through these layouts is refused here, by name, before a tensor is read.
 */
public sealed interface QuantizationConfig {

    /** No {@code quantization_config}: float weights. */
    record None() implements QuantizationConfig {
        @Override
        public String describe() {
            return "float";
        }
    }

    /**
     * 4-bit weights with a scale and zero point per group of input channels.
     *
     * @param packing   the tensor layout
     * @param groupSize input channels per group, or -1 for one group over all of them (per channel)
     */
    record Int4(Int4Packing packing, int groupSize) implements QuantizationConfig {

        public Int4 {
            if (groupSize != -1 && groupSize < 1) {
                throw new IllegalArgumentException("group size " + groupSize + " must be positive or -1 (per channel)");
            }
        }

        /** The group size over {@code inputs} channels: per channel means one group of all of them. */
        public int groupSize(long inputs) {
            return groupSize == -1 ? (int) inputs : groupSize;
        }

        /** {@code awq-int4 g128}, {@code gptq-int4 per-channel}. */
        @Override
        public String describe() {
            return packing.method() + "-int4 " + (groupSize == -1 ? "per-channel" : "g" + groupSize);
        }
    }

    QuantizationConfig NONE = new None();

    /** A short name for logs: {@code float}, {@code awq-int4 g128}. */
    String describe();

    /** config.json's {@code quantization_config} (null or missing: float). */
    static QuantizationConfig parse(JsonNode node) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return NONE;
        }
        if (!node.isObject()) {
            throw new CheckpointException("quantization_config is not a JSON object");
        }
        String method = node.path("quant_method").asText("").toLowerCase(Locale.ROOT);
        List<String> unsupported = new ArrayList<>();
        int bits = node.has("bits") ? node.get("bits").asInt() : node.path("w_bit").asInt(-1);
        if (bits != 4) {
            unsupported.add("bits " + (bits == -1 ? "missing" : bits) + " (only 4)");
        }
        int group = node.has("group_size") ? node.get("group_size").asInt() : node.path("q_group_size").asInt(0);
        Int4Packing packing = switch (method) {
            case "awq" -> awq(node, unsupported);
            case "gptq" -> gptq(node, unsupported);
            default -> throw new CheckpointException("quantization_config quant_method '" + method
                    + "' is not supported (supported: awq with version gemm, gptq with desc_act false; 4 bits)");
        };
        if (group == 0 || group < -1) {
            unsupported.add("group_size " + (group == 0 ? "missing" : group) + " (a positive size, or -1 for per channel)");
        }
        if (!unsupported.isEmpty()) {
            throw new CheckpointException("quantization_config (" + method + ") is not supported: " + String.join("; ", unsupported));
        }
        return new Int4(packing, group);
    }

    private static Int4Packing awq(JsonNode node, List<String> unsupported) {
        String version = node.path("version").asText("gemm").toLowerCase(Locale.ROOT);
        if (!version.equals("gemm")) {
            // GEMV packs eight input channels per word, exllama and marlin shuffle for their kernels.
            unsupported.add("version " + version + " (only gemm's layout is read)");
        }
        if (!node.path("zero_point").asBoolean(true)) {
            unsupported.add("zero_point false (AutoAWQ's GEMM layout stores zero points)");
        }
        return Int4Packing.AWQ;
    }

    private static Int4Packing gptq(JsonNode node, List<String> unsupported) {
        if (node.path("desc_act").asBoolean(false)) {
            unsupported.add("desc_act true (act-order: groups follow a permutation of the input channels)");
        }
        if (node.path("is_marlin_format").asBoolean(false)) {
            unsupported.add("is_marlin_format true (marlin's shuffled layout)");
        }
        String format = node.path("checkpoint_format").asText("gptq").toLowerCase(Locale.ROOT);
        return switch (format) {
            case "gptq" -> Int4Packing.GPTQ;
            case "gptq_v2" -> Int4Packing.GPTQ_V2;
            default -> {
                unsupported.add("checkpoint_format " + format + " (gptq or gptq_v2)");
                yield Int4Packing.GPTQ;
            }
        };
    }
}
