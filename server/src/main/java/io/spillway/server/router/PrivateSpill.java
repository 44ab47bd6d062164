package io.spillway.server.router;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.spillway.server.generation.Caller;
import io.spillway.server.generation.Generation;
import io.spillway.server.generation.GenerationRequest;
import io.spillway.server.generation.PiiOnSpill;
import io.spillway.server.generation.RewrittenText;
import io.spillway.server.platform.safety.PiiDetector;
import io.spillway.server.platform.safety.PiiType;
import io.spillway.server.platform.safety.TextFilter;
import io.spillway.server.platform.safety.PlaceholderRestorer;
import io.spillway.server.platform.safety.Pseudonyms;
import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.GenerationOptions;
import io.spillway.server.wire.Message;
import io.spillway.server.wire.ResponseFormat;
import io.spillway.server.wire.Tool;
import io.spillway.server.wire.ToolUse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.UnaryOperator;

/**
 * What of a conversation's personal data may leave the box when it spills, under the caller's
 * {@link PiiOnSpill} policy: every text Bedrock would read ({@link #rewrite}) is searched, and the values are kept back, replaced by
 * placeholders that come back as the values in the answer, replaced by redaction markers, or sent.
 */
final class PrivateSpill {

    /** What leaves for Bedrock, how its answer comes back, and the reason the route reports. */
    record Outbound(GenerationRequest request, UnaryOperator<Generation> answer, Optional<String> reason) {
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final PiiDetector detector;
    private final PiiOnSpill serverPolicy;

    PrivateSpill(Set<PiiType> types, PiiOnSpill serverPolicy) {
        this.detector = new PiiDetector(types);
        this.serverPolicy = serverPolicy;
    }

    PiiOnSpill policyOf(Caller caller) {
        return caller.policy().piiOnSpill().orElse(serverPolicy);
    }

    /** The types of personal data in what Bedrock would read, in name order; empty when there is none. */
    Set<String> typesIn(ChatRequest chat) {
        Set<String> types = new TreeSet<>();
        for (String text : texts(chat)) {
            detector.find(text).forEach(f -> types.add(f.type()));
        }
        return types;
    }

    /** The request as it may leave under {@code policy}. */
    Outbound outbound(GenerationRequest request, PiiOnSpill policy) {
        ChatRequest chat = request.chat().orElseThrow();
        return switch (policy) {
            case ALLOW -> new Outbound(request, UnaryOperator.identity(), typesIn(chat).isEmpty() ? Optional.empty() : Optional.of("pii_allowed"));
            case REDACT -> typesIn(chat).isEmpty() ? new Outbound(request, UnaryOperator.identity(), Optional.empty())
                    : new Outbound(request.withBody(rewrite(chat, this::redact)), UnaryOperator.identity(), Optional.of("redacted"));
            case PSEUDONYMIZE -> {
                Pseudonyms pseudonyms = new Pseudonyms(detector);
                texts(chat).forEach(pseudonyms::reserve);
                ChatRequest replaced = rewrite(chat, pseudonyms::replace);
                if (!pseudonyms.any()) {
                    yield new Outbound(request, UnaryOperator.identity(), Optional.empty());
                }
                Map<String, String> values = pseudonyms.values();
                yield new Outbound(request.withBody(replaced), answer -> restored(answer, values), Optional.of("pseudonymized"));
            }
            case LOCAL_ONLY -> {
                // The route was decided on the same texts: a conversation with personal data did not get here.
                if (!typesIn(chat).isEmpty()) {
                    throw new IllegalStateException("a local-only conversation with personal data was about to spill");
                }
                yield new Outbound(request, UnaryOperator.identity(), Optional.empty());
            }
        };
    }

    private String redact(String text) {
        return TextFilter.redact(text, detector.find(text));
    }

    /** The answer with each placeholder of the conversation turned back into its value, in every part. */
    private static Generation restored(Generation answer, Map<String, String> values) {
        return new RewrittenText(answer, part -> new PlaceholderRestorer(values,
                part.kind() == RewrittenText.Kind.TOOL_ARGUMENTS ? PrivateSpill::jsonStringContent : UnaryOperator.identity()));
    }

    /** A value as it must be written inside a JSON string (a tool call's arguments are JSON text). */
    private static String jsonStringContent(String value) {
        return new String(JsonStringEncoder.getInstance().quoteAsString(value));
    }

    private static List<String> texts(ChatRequest chat) {
        List<String> texts = new ArrayList<>();
        rewrite(chat, text -> {
            texts.add(text);
            return text;
        });
        return texts;
    }

    /**
     * {@code chat} with {@code f} applied to every text Converse is sent: each message's content,
     * every string (and key) inside earlier tool calls' arguments, the offered tools' descriptions
     * and schemas, a response format's schema, and the stop sequences. Tool and function names are
     * identifiers, which cannot hold what the detector finds.
     */
    private static ChatRequest rewrite(ChatRequest chat, UnaryOperator<String> f) {
        List<Message> messages = new ArrayList<>(chat.messages().size());
        for (Message m : chat.messages()) {
            ObjectNode extra = m.extra();
            JsonNode calls = extra.get("tool_calls");
            if (calls != null && calls.isArray()) {
                for (JsonNode call : calls) {
                    if (call.get("function") instanceof ObjectNode fn && fn.has("arguments")) {
                        fn.set("arguments", arguments(fn.get("arguments"), f));
                    }
                }
            }
            messages.add(new Message(m.role(), f.apply(m.content()), extra));
        }
        List<Tool> tools = new ArrayList<>();
        for (Tool t : chat.tools().tools()) {
            tools.add(new Tool(t.name(), t.description().map(f), strings(t.parameters(), f), t.strict(), (ObjectNode) strings(t.raw(), f)));
        }
        ResponseFormat format = chat.options().format() instanceof ResponseFormat.JsonSchema s
                ? new ResponseFormat.JsonSchema(s.name(), strings(s.schema(), f), s.strict()) : chat.options().format();
        GenerationOptions options = chat.options().withStopAndFormat(chat.options().stop().stream().map(f).toList(), format);
        return chat.withMessages(messages).withTools(new ToolUse(tools, chat.tools().choice(), chat.tools().parallel()))
                .withOptions(options);
    }

    /**
     * A call's arguments with {@code f} applied to their strings. Arguments are JSON, as text or as
     * an object: the detector must read the values Converse will read, unescaped, so JSON text is
     * parsed, and written back only when a string changed. Text that is not JSON is one string.
     */
    private static JsonNode arguments(JsonNode arguments, UnaryOperator<String> f) {
        if (!arguments.isTextual()) {
            return strings(arguments, f);
        }
        String text = arguments.asText();
        JsonNode parsed;
        try {
            parsed = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            return TextNode.valueOf(f.apply(text));
        }
        if (parsed == null) {
            return TextNode.valueOf(f.apply(text));
        }
        JsonNode mapped = strings(parsed, f);
        return TextNode.valueOf(mapped.equals(parsed) ? text : mapped.toString());
    }

    /** A copy of {@code node} with {@code f} applied to every string value and every object key. */
    private static JsonNode strings(JsonNode node, UnaryOperator<String> f) {
        if (node.isTextual()) {
            return TextNode.valueOf(f.apply(node.asText()));
        }
        if (node.isArray()) {
            ArrayNode out = JSON.createArrayNode();
            node.forEach(item -> out.add(strings(item, f)));
            return out;
        }
        if (node.isObject()) {
            ObjectNode out = JSON.createObjectNode();
            node.properties().forEach(e -> out.set(f.apply(e.getKey()), strings(e.getValue(), f)));
            return out;
        }
        return node.deepCopy();
    }
}
