package io.spillway.models;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.models.checkpoint.ConfigJson;
import io.spillway.models.runtime.ComputeTarget;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The configs of well-known models, loaded with random weights ({@link LoadFormat#DUMMY}): realistic
 * sizes for benchmarks and device checks without a checkpoint download.
 */
public final class DummyShapes {

    private DummyShapes() {
    }

    /** HuggingFaceTB/SmolLM2-135M: hidden 576, intermediate 1536, 30 layers, 9 heads, 3 KV heads, vocab 49,152, tied. */
    public static ObjectNode smolLm2_135m() {
        ObjectNode c = ConfigJson.llama(576, 1536, 30, 9, 3, 49152, 8192, true);
        c.put("rope_theta", 100000.0);
        c.put("bos_token_id", 1);
        c.put("eos_token_id", 2);
        return c;
    }

    /** Qwen/Qwen3-0.6B: hidden 1024, intermediate 3072, 28 layers, 16 heads, 8 KV heads of 128, q/k norms, vocab 151,936, tied. */
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

    /** meta-llama/Llama-3.2-1B: hidden 2048, intermediate 8192, 16 layers, 32 heads, 8 KV heads, vocab 128,256, tied. */
    public static ObjectNode llama32_1b() {
        ObjectNode c = ConfigJson.llama(2048, 8192, 16, 32, 8, 128256, 131072, true);
        c.put("rope_theta", 500000.0);
        c.put("bos_token_id", 128000);
        c.put("eos_token_id", 128001);
        return c;
    }

    /** How to load random weights of this shape on {@code target}: a config.json in a temporary directory, removed at exit. */
    public static ModelLoadOptions options(ObjectNode config, ComputeTarget target) {
        try {
            Path dir = Files.createTempDirectory("spillway-dummy-model");
            Files.writeString(dir.resolve("config.json"), config.toString());
            dir.toFile().deleteOnExit();
            dir.resolve("config.json").toFile().deleteOnExit();
            return ModelLoadOptions.of(dir, target).withFormat(LoadFormat.DUMMY);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
