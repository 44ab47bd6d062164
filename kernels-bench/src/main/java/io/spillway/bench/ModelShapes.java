package io.spillway.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.models.LoadFormat;
import io.spillway.models.checkpoint.ConfigJson;
import io.spillway.models.LoadedModel;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.runtime.ComputeTarget;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Realistic model shapes with random weights, so benchmarks need no checkpoint download. */
public final class ModelShapes {

    private ModelShapes() {
    }

    /** HuggingFaceTB/SmolLM2-135M: hidden 576, intermediate 1536, 30 layers, 9 heads, 3 KV heads, vocab 49152, tied. */
    public static ObjectNode smolLm2_135m() {
        ObjectNode c = ConfigJson.llama(576, 1536, 30, 9, 3, 49152, 8192, true);
        c.put("rope_theta", 100000.0);
        c.put("bos_token_id", 1);
        c.put("eos_token_id", 2);
        return c;
    }

    /**
     * Qwen/Qwen3-0.6B: hidden 1024, intermediate 3072, 28 layers, 16 heads, 8 KV heads of 128,
     * q/k norms, vocab 151,936, tied.
     */
    public static ObjectNode qwen3_0_6b() {
        ObjectNode c = ConfigJson.llama(1024, 3072, 28, 16, 8, 151936, 40960, true);
        c.putArray("architectures").add("Qwen3ForCausalLM");
        c.put("model_type", "qwen3");
        c.put("head_dim", 128);
        c.put("rope_theta", 1000000.0);
        c.put("rms_norm_eps", 1e-6);
        c.put("bos_token_id", 151643);
        c.put("eos_token_id", 151645);
        return c;
    }

    /**
     * {@code config} as an int4 checkpoint of {@code method} ({@code awq} or {@code gptq}) in groups of
     * {@code groupSize}: random weights in that layout (see {@code DummyWeights}).
     */
    public static ObjectNode int4(ObjectNode config, String method, int groupSize) {
        ObjectNode c = config.deepCopy();
        ObjectNode q = c.putObject("quantization_config");
        q.put("quant_method", method);
        q.put("bits", 4);
        q.put("group_size", groupSize);
        q.put("version", "gemm");
        q.put("zero_point", true);
        q.put("desc_act", false);
        return c;
    }

    /**
     * The SmolLM2-135M shape in one of the weight formats the benchmarks compare: a
     * {@link io.spillway.models.arch.Quantization} value ({@code none}, {@code int8}, ...) applied on
     * load, or {@code awq-int4} / {@code gptq-int4}, random int4 checkpoints in groups of 64 (576, its
     * width, is not a multiple of 128).
     */
    public static ModelLoadOptions smolLm2_135m(String weights) {
        if (weights.endsWith("-int4")) {
            return options(int4(smolLm2_135m(), weights.substring(0, weights.length() - "-int4".length()), 64));
        }
        return options(smolLm2_135m()).withQuantization(io.spillway.models.arch.Quantization.parse(weights));
    }

    /** How to load a random-weight model of this shape in float32 on the CPU. */
    public static ModelLoadOptions options(ObjectNode config) {
        try {
            Path dir = Files.createTempDirectory("spillway-bench-model");
            Files.writeString(dir.resolve("config.json"), config.toString());
            dir.toFile().deleteOnExit();
            dir.resolve("config.json").toFile().deleteOnExit();
            return ModelLoadOptions.of(dir, ComputeTarget.cpuFloat32()).withFormat(LoadFormat.DUMMY);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Loads it on the calling thread. Benchmarks that run the model directly load and run it on the
     * same (JMH) thread: libtorch gives each thread running ops its own OpenMP team.
     */
    public static LoadedModel load(ObjectNode config) {
        return LoadedModel.load(options(config));
    }

    /** Resident set size of this process in MiB, from /proc (Linux). */
    public static long residentMiB() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
                }
            }
        } catch (IOException ignored) {
            // Not Linux: no figure.
        }
        return -1;
    }
}
