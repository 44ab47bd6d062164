package io.spillway.server.local;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.spillway.models.grammar.CompiledGrammar;
import io.spillway.models.grammar.Grammar;
import io.spillway.models.grammar.UnsupportedSchemaException;
import io.spillway.models.grammar.Vocabulary;
import io.spillway.server.output.ToolCallFormat;
import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.OpenAiException;
import io.spillway.server.wire.ResponseFormat;
import io.spillway.server.wire.Tool;
import io.spillway.server.wire.ToolChoice;
import io.spillway.server.wire.ToolUse;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.List;
import java.util.Optional;

/**
 * What the served model's output must follow, compiled to a grammar over its vocabulary: a JSON
 * schema or any JSON object (response_format), or a tool call in the model's own format when the
 * request makes one required or names one (so even a model that was never trained to call tools
 * returns a valid call), after the reasoning block of a model that thinks. Compiled grammars are
 * shared by every request that asks for the same thing.
 */
final class Constraints {

    /** Longest reasoning block a constrained answer may start with, in characters (max_tokens bounds it first). */
    private static final int MAX_REASONING_CHARS = 1 << 20;
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private final ServedModel model;
    private final Cache<Grammar, CompiledGrammar> compiled = Caffeine.newBuilder().maximumSize(256).build();
    private volatile Vocabulary vocabulary;

    Constraints(ServedModel model) {
        this.model = model;
    }

    /** The grammar of a chat answer, if the request constrains it; {@code prompt} is the rendered conversation. */
    Optional<CompiledGrammar> forChat(ChatRequest chat, String prompt) {
        Optional<Grammar> answer = toolCall(chat.tools()).or(() -> format(chat.options().format()));
        if (answer.isEmpty()) {
            return Optional.empty();
        }
        Grammar g = answer.get();
        if (model.thinks()) {
            String end = prompt.stripTrailing();
            if (end.endsWith("<think>")) {
                g = Grammar.sequence(Grammar.textUntil("</think>", MAX_REASONING_CHARS), Grammar.whitespace(4), g);
            } else if (!end.endsWith("</think>")) {
                g = Grammar.sequence(Grammar.literal("<think>"), Grammar.textUntil("</think>", MAX_REASONING_CHARS), Grammar.whitespace(4),
                        g);
            }
        }
        return Optional.of(compile(g, chat.tools().choice() instanceof ToolChoice.Required
                || chat.tools().choice() instanceof ToolChoice.Named ? "tools" : "response_format"));
    }

    /** The grammar of a completion's text, if its response format constrains it. */
    Optional<CompiledGrammar> forCompletion(ResponseFormat format) {
        return format(format).map(g -> compile(g, "response_format"));
    }

    private static Optional<Grammar> format(ResponseFormat format) {
        return switch (format) {
            case ResponseFormat.Text t -> Optional.empty();
            case ResponseFormat.JsonObject j -> Optional.of(Grammar.anyJsonObject());
            case ResponseFormat.JsonSchema s -> Optional.of(Grammar.json(s.schema()));
        };
    }

    /** Calls the request requires, in the model's format; empty when the model may answer freely. */
    private Optional<Grammar> toolCall(ToolUse use) {
        List<Tool> tools = switch (use.choice()) {
            case ToolChoice.Required r -> use.tools();
            case ToolChoice.Named n -> use.tools().stream().filter(t -> t.name().equals(n.name())).toList();
            case ToolChoice.Auto a -> List.of();
            case ToolChoice.None n -> List.of();
        };
        if (tools.isEmpty()) {
            return Optional.empty();
        }
        int most = use.parallel() ? Grammar.UNBOUNDED : 1;
        ToolCallFormat format = model.toolCallFormat();
        return Optional.of(switch (format) {
            case HERMES -> Grammar.repeat(oneOf(tools.stream().map(t -> Grammar.sequence(Grammar.literal("<tool_call>\n"),
                    Grammar.json(call(t, "arguments")), Grammar.literal("\n</tool_call>"))).toList()), 1, most, "\n");
            case LLAMA3_JSON -> Grammar.repeat(oneOf(tools.stream().map(t -> Grammar.json(call(t, "parameters"))).toList()), 1, most, "; ");
            case MISTRAL -> {
                ObjectNode array = F.objectNode().put("type", "array").put("minItems", 1);
                if (most == 1) {
                    array.put("maxItems", 1);
                }
                var anyOf = array.putObject("items").putArray("anyOf");
                tools.forEach(t -> anyOf.add(call(t, "arguments")));
                yield Grammar.sequence(Grammar.literal("[TOOL_CALLS] "), Grammar.json(array));
            }
        });
    }

    private static Grammar oneOf(List<Grammar> options) {
        return options.size() == 1 ? options.get(0) : Grammar.oneOf(options.toArray(Grammar[]::new));
    }

    /** A call of {@code tool} as its format's JSON: its name, and its arguments under {@code argumentsKey}. */
    private static ObjectNode call(Tool tool, String argumentsKey) {
        ObjectNode schema = F.objectNode().put("type", "object");
        ObjectNode properties = schema.putObject("properties");
        properties.putObject("name").put("const", tool.name());
        properties.set(argumentsKey, tool.parameters());
        schema.putArray("required").add("name").add(argumentsKey);
        schema.put("additionalProperties", false);
        return schema;
    }

    private CompiledGrammar compile(Grammar grammar, String param) {
        try {
            return compiled.get(grammar, g -> CompiledGrammar.compile(g, vocabulary()));
        } catch (UnsupportedSchemaException e) {
            throw unsupported(e, param);
        } catch (IllegalArgumentException e) {
            throw OpenAiException.invalid("Invalid '" + param + "': " + e.getMessage(), param, "unsupported_schema");
        }
    }

    static OpenAiException unsupported(UnsupportedSchemaException e, String param) {
        return OpenAiException.invalid("Invalid '" + param + "': the JSON Schema keyword '" + e.keyword() + "' (at " + e.pointer()
                + ") is not supported for structured outputs.", param, "unsupported_schema");
    }

    /** The model's tokens as bytes, read from its tokenizer.json once, on the first constrained request. */
    private Vocabulary vocabulary() {
        Vocabulary v = vocabulary;
        if (v == null) {
            synchronized (this) {
                if (vocabulary == null) {
                    model.requireTokenizer("structured output");
                    try {
                        byte[] json = Files.readAllBytes(model.engine().model().directory().resolve("tokenizer.json"));
                        vocabulary = Vocabulary.fromTokenizerJson(json, model.vocabSize(), model.engine().model().eosTokenIds());
                    } catch (IOException e) {
                        throw new UncheckedIOException("cannot read the model's tokenizer.json", e);
                    }
                }
                v = vocabulary;
            }
        }
        return v;
    }
}
