package io.spillway.server.platform.cache;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.server.platform.keys.Sha256;
import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.CompletionRequest;
import io.spillway.server.wire.Delivery;
import io.spillway.server.wire.GenerationBody;
import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Keys of the response cache and of in-flight de-duplication: a hash of everything that shapes the
 * answer (the endpoint, every field of the validated request, the caller's scope), leaving out only
 * how the answer is delivered ({@link Delivery}). Requests are walked field by field, so a field
 * added to a request is part of its key without anyone remembering to add it here.
 */
public final class CacheKeys {

    private CacheKeys() {
    }

    public static String exact(GenerationBody body, String scope) {
        return Sha256.hex(body.endpoint() + "\n" + scope + "\n" + canonical(body));
    }

    /** The semantic cache's partition: everything but the conversation must match exactly. */
    public static String partition(GenerationBody body, String scope) {
        GenerationBody rest = switch (body) {
            case ChatRequest c -> c.withMessages(List.of());
            case CompletionRequest c -> c.withPrompts(List.of());
        };
        return Sha256.hex(body.endpoint() + "\n" + scope + "\n" + canonical(rest));
    }

    /** One text per value: records field by field in declaration order, sets and maps sorted. */
    static String canonical(Object value) {
        StringBuilder out = new StringBuilder();
        write(value, out);
        return out.toString();
    }

    private static void write(Object value, StringBuilder out) {
        switch (value) {
            case null -> out.append("null");
            case Delivery d -> out.append("-");
            case Record r -> {
                out.append(r.getClass().getSimpleName()).append('{');
                for (RecordComponent c : r.getClass().getRecordComponents()) {
                    out.append(c.getName()).append('=');
                    try {
                        write(c.getAccessor().invoke(r), out);
                    } catch (ReflectiveOperationException e) {
                        throw new IllegalStateException("cannot read " + c, e);
                    }
                    out.append(';');
                }
                out.append('}');
            }
            case Optional<?> o -> write(o.orElse(null), out);
            case JsonNode n -> out.append(json(n));
            case List<?> l -> {
                out.append('[');
                l.forEach(x -> {
                    write(x, out);
                    out.append(',');
                });
                out.append(']');
            }
            case Collection<?> c -> out.append(sorted(c.stream().map(CacheKeys::canonical).toList()));
            case Map<?, ?> m -> out.append(sorted(m.entrySet().stream().map(e -> canonical(e.getKey()) + ":" + canonical(e.getValue()))
                    .toList()));
            case int[] a -> out.append(Arrays.toString(a));
            case String s -> out.append(com.fasterxml.jackson.databind.node.TextNode.valueOf(s));
            case Enum<?> e -> out.append(e.name());
            default -> out.append(value);
        }
    }

    private static String sorted(List<String> items) {
        List<String> copy = new ArrayList<>(items);
        copy.sort(null);
        return copy.toString();
    }

    /** JSON with object keys sorted, so field order never splits equal requests. */
    static String json(JsonNode node) {
        if (node instanceof ObjectNode o) {
            List<String> names = new ArrayList<>();
            o.fieldNames().forEachRemaining(names::add);
            names.sort(null);
            StringBuilder b = new StringBuilder("{");
            for (String n : names) {
                b.append(com.fasterxml.jackson.databind.node.TextNode.valueOf(n)).append(':').append(json(o.get(n))).append(',');
            }
            return b.append('}').toString();
        }
        if (node instanceof ArrayNode a) {
            StringBuilder b = new StringBuilder("[");
            for (Iterator<JsonNode> it = a.elements(); it.hasNext(); ) {
                b.append(json(it.next())).append(',');
            }
            return b.append(']').toString();
        }
        return node.toString();
    }
}
