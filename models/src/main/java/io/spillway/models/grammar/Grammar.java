package io.spillway.models.grammar;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;

/**
 * What a constrained sequence may say, as an immutable value with structural equality. Compile it with
 * {@link CompiledGrammar#compile}. Tool-call formats are built from these pieces by the caller,
 * e.g. Hermes: {@code sequence(literal("<tool_call>\n"), json(callSchema), literal("\n</tool_call>"))}.
 */
public sealed interface Grammar {

    /** For {@link #repeat}: no upper bound. */
    int UNBOUNDED = -1;

    /**
     * Exactly this text. Where the text at that point spells a special token of the vocabulary
     * (e.g. {@code <tool_call>} in Qwen's, {@code [TOOL_CALLS]} in Mistral's), the special token is
     * allowed as well as the spelled-out bytes.
     */
    record Literal(String text) implements Grammar {
    }

    /**
     * A JSON value valid against the schema (the subset in {@link JsonSchemaSupport}). Holds its
     * own copy: equal schemas make equal grammars, so a grammar can key the caller's cache.
     */
    record Json(JsonNode schema) implements Grammar {
        public Json {
            schema = schema.deepCopy();
        }

        @Override
        public JsonNode schema() {
            return schema.deepCopy();
        }
    }

    /** Any JSON value. */
    record AnyJson() implements Grammar {
    }

    /** Any JSON object: what OpenAI's {@code json_object} response format means. */
    record AnyJsonObject() implements Grammar {
    }

    record Sequence(List<Grammar> items) implements Grammar {
        public Sequence {
            items = List.copyOf(items);
        }
    }

    record OneOf(List<Grammar> options) implements Grammar {
        public OneOf {
            options = List.copyOf(options);
            if (options.isEmpty()) {
                throw new IllegalArgumentException("oneOf needs at least one option");
            }
        }
    }

    /** item between min and max times ({@link #UNBOUNDED} for no limit), separator between items. */
    record Repeat(Grammar item, int min, int max, String separator) implements Grammar {
        public Repeat {
            if (min < 0 || (max != UNBOUNDED && max < min)) {
                throw new IllegalArgumentException("repeat bounds " + min + ".." + max);
            }
        }
    }

    /**
     * Free text of at most maxChars characters that ends with the first occurrence of the
     * terminator, terminator included (e.g. a reasoning block up to {@code </think>}). Once the
     * budget is spent the terminator is all that may follow.
     */
    record TextUntil(String terminator, int maxChars) implements Grammar {
        public TextUntil {
            if (terminator.isEmpty() || maxChars < 0) {
                throw new IllegalArgumentException("textUntil needs a terminator and maxChars >= 0");
            }
        }
    }

    /** Up to maxChars spaces, tabs, carriage returns or newlines. */
    record Whitespace(int maxChars) implements Grammar {
        public Whitespace {
            if (maxChars < 0) {
                throw new IllegalArgumentException("maxChars " + maxChars);
            }
        }
    }

    static Grammar literal(String text) {
        return new Literal(text);
    }

    static Grammar json(JsonNode schema) {
        return new Json(schema);
    }

    static Grammar anyJson() {
        return new AnyJson();
    }

    static Grammar anyJsonObject() {
        return new AnyJsonObject();
    }

    static Grammar sequence(Grammar... items) {
        return new Sequence(List.of(items));
    }

    static Grammar oneOf(Grammar... options) {
        return new OneOf(List.of(options));
    }

    static Grammar repeat(Grammar item, int min, int max, String separator) {
        return new Repeat(item, min, max, separator);
    }

    static Grammar textUntil(String terminator, int maxChars) {
        return new TextUntil(terminator, maxChars);
    }

    static Grammar whitespace(int maxChars) {
        return new Whitespace(maxChars);
    }
}
