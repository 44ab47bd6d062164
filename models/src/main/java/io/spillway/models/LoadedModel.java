package io.spillway.models;

import io.spillway.models.arch.DecoderModel;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.checkpoint.CheckpointException;
import io.spillway.models.checkpoint.DummyWeights;
import io.spillway.models.checkpoint.GenerationConfig;
import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.checkpoint.SafetensorsCheckpoint;
import io.spillway.models.checkpoint.TensorSource;
import io.spillway.models.tokenizer.HfTokenizer;
import io.spillway.models.tokenizer.TextTokenizer;
import io.spillway.models.tokenizer.TokenizerConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Optional;
import java.util.Set;

/**
 * A model directory loaded for serving: the network, its tokenizer (if it has one) and the
 * configs that shape its text interface and default sampling.
 */
public final class LoadedModel implements AutoCloseable {

    private final String name;
    private final Path directory;
    private final ModelConfig config;
    private final GenerationConfig generation;
    private final TokenizerConfig tokenizerConfig;
    private final TextTokenizer tokenizer;
    private final DecoderModel model;
    private final LoadFormat format;
    private final AttentionChoice attention;

    private LoadedModel(String name, Path directory, ModelConfig config, GenerationConfig generation,
                        TokenizerConfig tokenizerConfig, TextTokenizer tokenizer, DecoderModel model, LoadFormat format,
                        AttentionChoice attention) {
        this.name = name;
        this.directory = directory;
        this.config = config;
        this.generation = generation;
        this.tokenizerConfig = tokenizerConfig;
        this.tokenizer = tokenizer;
        this.model = model;
        this.format = format;
        this.attention = attention;
    }

    public static LoadedModel load(ModelLoadOptions options) {
        Path dir = options.directory();
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException("model directory " + dir + " does not exist");
        }
        ModelConfig config = ModelConfig.load(dir.resolve("config.json"));
        GenerationConfig generation = GenerationConfig.load(dir);
        TokenizerConfig tokenizerConfig = TokenizerConfig.load(dir);
        int maxLength = options.maxModelLength() > 0 ? options.maxModelLength() : config.maxPositionEmbeddings();
        TextTokenizer tokenizer = Files.isRegularFile(dir.resolve(HfTokenizer.FILE)) ? HfTokenizer.load(dir.resolve(HfTokenizer.FILE)) : null;
        try (TensorSource source = options.format() == LoadFormat.DUMMY
                ? new DummyWeights(config, options.dummySeed())
                : SafetensorsCheckpoint.open(dir)) {
            DecoderModel model = DecoderModel.load(source, config, options.target(), options.projectionLayout(), options.quantization(), options.kernels(),
                    maxLength);
            return new LoadedModel(dir.toAbsolutePath().normalize().getFileName().toString(), dir, config, generation,
                    tokenizerConfig, tokenizer, model, options.format(), options.attention());
        } catch (RuntimeException e) {
            if (tokenizer != null) {
                tokenizer.close();
            }
            throw e;
        }
    }

    /** The model's name: its directory's name. */
    public String name() {
        return name;
    }

    public Path directory() {
        return directory;
    }

    public ModelConfig config() {
        return config;
    }

    public GenerationConfig generationConfig() {
        return generation;
    }

    public TokenizerConfig tokenizerConfig() {
        return tokenizerConfig;
    }

    /** Empty for a model without tokenizer.json: it works on token ids only. */
    public Optional<TextTokenizer> tokenizer() {
        return Optional.ofNullable(tokenizer);
    }

    /** How the serving engine is to read this model's paged KV cache. */
    public AttentionChoice attention() {
        return attention;
    }

    public DecoderModel model() {
        return model;
    }

    public LoadFormat format() {
        return format;
    }

    /** Ids that end generation: generation_config.json's, else config.json's. */
    public Set<Integer> eosTokenIds() {
        Set<Integer> ids = new LinkedHashSet<>(generation.eosTokenIds());
        if (ids.isEmpty()) {
            ids.addAll(config.eosTokenIds());
        }
        return ids;
    }

    @Override
    public void close() {
        model.close();
        if (tokenizer != null) {
            tokenizer.close();
        }
    }
}
