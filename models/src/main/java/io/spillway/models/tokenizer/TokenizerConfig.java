package io.spillway.models.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.spillway.models.checkpoint.CheckpointException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * What {@code tokenizer_config.json} (and {@code chat_template.jinja}) say about a model's text
 * interface: chat templates, special token strings, and whether encoding adds BOS/EOS.
 *
 * @param chatTemplates  templates by name; an unnamed template is stored as {@code "default"}
 * @param specialTokens  bos_token, eos_token, pad_token, unk_token, ... as template variables
 * @param addBosToken    whether plain-prompt encoding prepends BOS ({@code add_bos_token}), if said
 * @param addEosToken    whether plain-prompt encoding appends EOS, if said
 * @param modelMaxLength the tokenizer's own length limit, if sensible
 */
public record TokenizerConfig(Map<String, String> chatTemplates, Map<String, String> specialTokens,
                              Optional<Boolean> addBosToken, Optional<Boolean> addEosToken, Optional<Integer> modelMaxLength) {

    public static final String FILE = "tokenizer_config.json";
    public static final String TEMPLATE_FILE = "chat_template.jinja";
    public static final String DEFAULT_TEMPLATE = "default";
    public static final TokenizerConfig EMPTY = new TokenizerConfig(Map.of(), Map.of(), Optional.empty(), Optional.empty(), Optional.empty());

    public TokenizerConfig {
        chatTemplates = Collections.unmodifiableMap(new LinkedHashMap<>(chatTemplates));
        specialTokens = Collections.unmodifiableMap(new LinkedHashMap<>(specialTokens));
    }

    /** The template called {@code name}, or the default one when name is null. */
    public Optional<String> chatTemplate(String name) {
        return Optional.ofNullable(chatTemplates.get(name == null ? DEFAULT_TEMPLATE : name));
    }

    public static TokenizerConfig load(Path directory) {
        Path file = directory.resolve(FILE);
        Map<String, String> templates = new LinkedHashMap<>();
        Map<String, String> special = new LinkedHashMap<>();
        Optional<Boolean> addBos = Optional.empty();
        Optional<Boolean> addEos = Optional.empty();
        Optional<Integer> maxLength = Optional.empty();
        if (Files.isRegularFile(file)) {
            JsonNode root;
            try {
                root = new ObjectMapper().readTree(Files.readString(file));
            } catch (IOException e) {
                throw new CheckpointException("cannot read " + file + ": " + e.getMessage(), e);
            }
            if (root == null || !root.isObject()) {
                throw new CheckpointException(file + " is not a JSON object");
            }
            JsonNode t = root.get("chat_template");
            if (t != null && t.isTextual()) {
                templates.put(DEFAULT_TEMPLATE, t.asText());
            } else if (t != null && t.isArray()) {
                for (JsonNode entry : t) {
                    templates.put(entry.path("name").asText(DEFAULT_TEMPLATE), entry.path("template").asText());
                }
            }
            root.fields().forEachRemaining(e -> {
                if (e.getKey().endsWith("_token") && !e.getKey().startsWith("add_")) {
                    tokenContent(e.getValue()).ifPresent(v -> special.put(e.getKey(), v));
                }
            });
            if (root.path("add_bos_token").isBoolean()) {
                addBos = Optional.of(root.get("add_bos_token").asBoolean());
            }
            if (root.path("add_eos_token").isBoolean()) {
                addEos = Optional.of(root.get("add_eos_token").asBoolean());
            }
            // Tokenizers without a limit store a huge sentinel (1e30); only a real length counts.
            long max = root.path("model_max_length").asLong(0);
            if (max > 0 && max < 10_000_000) {
                maxLength = Optional.of((int) max);
            }
        }
        Path templateFile = directory.resolve(TEMPLATE_FILE);
        if (Files.isRegularFile(templateFile)) {
            try {
                templates.put(DEFAULT_TEMPLATE, Files.readString(templateFile));
            } catch (IOException e) {
                throw new CheckpointException("cannot read " + templateFile + ": " + e.getMessage(), e);
            }
        }
        return new TokenizerConfig(templates, special, addBos, addEos, maxLength);
    }

    /** A special token is written either as a string or as an AddedToken object with "content". */
    private static Optional<String> tokenContent(JsonNode node) {
        if (node == null || node.isNull()) {
            return Optional.empty();
        }
        if (node.isTextual()) {
            return Optional.of(node.asText());
        }
        if (node.isObject() && node.path("content").isTextual()) {
            return Optional.of(node.get("content").asText());
        }
        return Optional.empty();
    }
}
