package io.spillway.models.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalDouble;
import java.util.OptionalInt;

/**
 * A model's default sampling parameters and stop ids from {@code generation_config.json}. Request
 * parameters override these; absent values fall back to the server's own defaults.
 *
 * @param eosTokenIds       ids that end generation (may be several, e.g. Llama 3's eot and eom)
 * @param temperature       default temperature, if set
 * @param topP              default nucleus mass, if set
 * @param topK              default top-k, if set
 * @param minP              default min-p, if set
 * @param repetitionPenalty default repetition penalty, if set
 * @param maxNewTokens      default output limit, if set
 * @param doSample          false when the model's authors want greedy decoding by default
 */
public record GenerationConfig(List<Integer> eosTokenIds, OptionalDouble temperature, OptionalDouble topP, OptionalInt topK,
                               OptionalDouble minP, OptionalDouble repetitionPenalty, OptionalInt maxNewTokens, boolean doSample) {

    public static final String FILE = "generation_config.json";
    public static final GenerationConfig EMPTY = new GenerationConfig(List.of(), OptionalDouble.empty(), OptionalDouble.empty(),
            OptionalInt.empty(), OptionalDouble.empty(), OptionalDouble.empty(), OptionalInt.empty(), true);

    public GenerationConfig {
        eosTokenIds = List.copyOf(eosTokenIds);
    }

    /** Reads the directory's generation_config.json, or {@link #EMPTY} when it has none. */
    public static GenerationConfig load(Path directory) {
        Path file = directory.resolve(FILE);
        if (!Files.isRegularFile(file)) {
            return EMPTY;
        }
        try {
            JsonNode n = new ObjectMapper().readTree(Files.readString(file));
            if (n == null || !n.isObject()) {
                throw new CheckpointException(file + " is not a JSON object");
            }
            return new GenerationConfig(
                    ModelConfig.intList(n.get("eos_token_id")),
                    optionalDouble(n, "temperature"),
                    optionalDouble(n, "top_p"),
                    n.path("top_k").isNumber() ? OptionalInt.of(n.get("top_k").asInt()) : OptionalInt.empty(),
                    optionalDouble(n, "min_p"),
                    optionalDouble(n, "repetition_penalty"),
                    n.path("max_new_tokens").isNumber() ? OptionalInt.of(n.get("max_new_tokens").asInt()) : OptionalInt.empty(),
                    n.path("do_sample").asBoolean(true));
        } catch (IOException e) {
            throw new CheckpointException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static OptionalDouble optionalDouble(JsonNode n, String key) {
        return n.path(key).isNumber() ? OptionalDouble.of(n.get(key).asDouble()) : OptionalDouble.empty();
    }
}
