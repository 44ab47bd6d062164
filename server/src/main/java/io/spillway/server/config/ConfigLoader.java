package io.spillway.server.config;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Builds the configuration: built-in defaults ({@code spillway-defaults.yaml}), then a YAML file,
 * then {@code SPILLWAY_*} environment variables, then flags, each overriding the last. Only keys
 * that exist in the defaults are accepted, so a typo fails at start with its name.
 */
public final class ConfigLoader {

    public static final String DEFAULTS = "/spillway-defaults.yaml";
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    private final ObjectNode tree;

    private ConfigLoader(ObjectNode tree) {
        this.tree = tree;
    }

    public static ConfigLoader defaults() {
        try (InputStream in = ConfigLoader.class.getResourceAsStream(DEFAULTS)) {
            if (in == null) {
                throw new ConfigException("built-in defaults " + DEFAULTS + " are missing from the jar");
            }
            return new ConfigLoader((ObjectNode) YAML.readTree(in));
        } catch (IOException e) {
            throw new ConfigException("cannot read built-in defaults: " + e.getMessage(), e);
        }
    }

    /** Overrides from a YAML file. */
    public ConfigLoader file(Path file) {
        JsonNode overrides;
        try {
            overrides = YAML.readTree(Files.readString(file));
        } catch (IOException e) {
            throw new ConfigException("cannot read configuration file " + file + ": " + e.getMessage(), e);
        }
        if (overrides != null && !overrides.isNull()) {
            if (!overrides.isObject()) {
                throw new ConfigException(file + " must hold a YAML mapping of sections");
            }
            merge(tree, (ObjectNode) overrides, file.toString(), "");
        }
        return this;
    }

    /** Overrides from environment variables named after the default keys ({@code SPILLWAY_SERVER_PORT}). */
    public ConfigLoader environment(Map<String, String> env) {
        for (String path : leafPaths(tree, "")) {
            String name = "SPILLWAY_" + path.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
            String value = env.get(name);
            if (value != null) {
                set(path, value, name);
            }
        }
        return this;
    }

    /** One override, as a flag gives it: a key path ({@code engine.max-num-seqs}) and a text value. */
    public ConfigLoader set(String path, String value, String source) {
        String[] parts = path.split("\\.");
        ObjectNode node = tree;
        for (int i = 0; i < parts.length - 1; i++) {
            JsonNode child = node.get(parts[i]);
            if (!(child instanceof ObjectNode obj)) {
                throw new ConfigException("unknown configuration key '" + path + "' (from " + source + ")");
            }
            node = obj;
        }
        String key = parts[parts.length - 1];
        JsonNode current = node.get(key);
        if (current == null) {
            throw new ConfigException("unknown configuration key '" + path + "' (from " + source + ")");
        }
        node.set(key, coerce(current, value, path, source));
        return this;
    }

    public ServerConfig build() {
        try {
            return YAML.treeToValue(tree, ServerConfig.class);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            Throwable root = e.getCause() instanceof ConfigException c ? c : e;
            throw new ConfigException("invalid configuration: " + (root instanceof ConfigException ? root.getMessage() : e.getOriginalMessage()), e);
        } catch (IllegalArgumentException e) {
            throw new ConfigException("invalid configuration: " + (e.getCause() != null ? e.getCause().getMessage() : e.getMessage()), e);
        }
    }

    /** The effective configuration as YAML (for logs and `spillway serve --print-config`). */
    public String toYaml() {
        try {
            return YAML.writeValueAsString(tree);
        } catch (IOException e) {
            throw new ConfigException(e.getMessage(), e);
        }
    }

    private static JsonNode coerce(JsonNode current, String value, String path, String source) {
        try {
            if (current.isBoolean()) {
                if (!value.equalsIgnoreCase("true") && !value.equalsIgnoreCase("false")) {
                    throw new NumberFormatException();
                }
                return JsonNodeFactory.instance.booleanNode(Boolean.parseBoolean(value));
            }
            if (current.isIntegralNumber()) {
                return JsonNodeFactory.instance.numberNode(Long.parseLong(value.strip()));
            }
            if (current.isNumber()) {
                return JsonNodeFactory.instance.numberNode(Double.parseDouble(value.strip()));
            }
            if (current.isArray()) {
                ArrayNode array = JsonNodeFactory.instance.arrayNode();
                for (String item : value.split(",")) {
                    if (!item.isBlank()) {
                        array.add(item.strip());
                    }
                }
                return array;
            }
            return JsonNodeFactory.instance.textNode(value);
        } catch (NumberFormatException e) {
            throw new ConfigException(path + " (from " + source + ") must be " + (current.isBoolean() ? "true or false" : "a number")
                    + ", got '" + value + "'");
        }
    }

    private static void merge(ObjectNode base, ObjectNode overrides, String source, String prefix) {
        for (Iterator<Map.Entry<String, JsonNode>> it = overrides.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String path = prefix + e.getKey();
            JsonNode existing = base.get(e.getKey());
            if (existing == null) {
                throw new ConfigException("unknown configuration key '" + path + "' in " + source);
            }
            if (existing.isObject()) {
                if (!e.getValue().isObject()) {
                    throw new ConfigException("'" + path + "' in " + source + " must be a section");
                }
                merge((ObjectNode) existing, (ObjectNode) e.getValue(), source, path + ".");
            } else {
                base.set(e.getKey(), e.getValue());
            }
        }
    }

    private static List<String> leafPaths(ObjectNode node, String prefix) {
        List<String> out = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getValue().isObject()) {
                out.addAll(leafPaths((ObjectNode) e.getValue(), prefix + e.getKey() + "."));
            } else {
                out.add(prefix + e.getKey());
            }
        }
        return out;
    }
}
