package io.spillway.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.models.DummyShapes;
import io.spillway.models.LoadedModel;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.arch.QuantizedKernels;
import io.spillway.models.runtime.ComputeTarget;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** Realistic model shapes with random weights, so benchmarks need no checkpoint download. */
public final class ModelShapes {

    private ModelShapes() {
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
     * width, is not a multiple of 128) followed by {@code +} and a quantization on load
     * ({@code awq-int4+lm-head=int8}); either optionally with {@code @libtorch} or {@code @spillway}
     * after the format for the quantized kernels (and their layouts; the target's by default):
     * {@code int8@libtorch}, {@code awq-int4@libtorch+lm-head=int8}.
     */
    public static ModelLoadOptions smolLm2_135m(String weights) {
        String[] int4AndOnLoad = weights.split("\\+", 2);
        String[] formatAndKernels = int4AndOnLoad[0].split("@", 2);
        ModelLoadOptions options;
        if (formatAndKernels[0].endsWith("-int4")) {
            String method = formatAndKernels[0].substring(0, formatAndKernels[0].length() - "-int4".length());
            options = options(int4(DummyShapes.smolLm2_135m(), method, 64));
            if (int4AndOnLoad.length == 2) {
                options = options.withQuantization(io.spillway.models.arch.Quantization.parse(int4AndOnLoad[1]));
            }
        } else if (int4AndOnLoad.length == 2) {
            throw new IllegalArgumentException("'+' follows an int4 checkpoint's format, not " + formatAndKernels[0] + ": " + weights);
        } else {
            options = options(DummyShapes.smolLm2_135m()).withQuantization(io.spillway.models.arch.Quantization.parse(formatAndKernels[0]));
        }
        if (formatAndKernels.length == 2) {
            options = options.withQuantizedKernels(QuantizedKernels.valueOf(formatAndKernels[1].toUpperCase(Locale.ROOT)));
        }
        return options;
    }

    /** How to load a random-weight model of this shape in float32 on the CPU. */
    public static ModelLoadOptions options(ObjectNode config) {
        return DummyShapes.options(config, ComputeTarget.cpuFloat32());
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
