package io.spillway.server.platform.cache;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.server.platform.Sha256;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * Keys of the response cache and of in-flight de-duplication: a hash of everything that shapes the
 * answer (the endpoint, the request body with its keys sorted, the tenant and its output policy),
 * leaving out only what changes the delivery, not the answer (streaming and its options, the
 * caller's user tag, cache opt-ins).
 */
public final class CacheKeys {

    private static final Set<String> DELIVERY = Set.of("stream", "stream_options", "user", "semantic_cache");

    private CacheKeys() {
    }

    public static String exact(String endpoint, String tenant, String policy, ObjectNode body) {
        ObjectNode answer = body.deepCopy();
        DELIVERY.forEach(answer::remove);
        return Sha256.hex(endpoint + "\n" + tenant + "\n" + policy + "\n" + canonical(answer));
    }

    /** The semantic cache's partition: everything but the conversation must match exactly. */
    public static String partition(String endpoint, String tenant, String policy, ObjectNode body) {
        ObjectNode rest = body.deepCopy();
        DELIVERY.forEach(rest::remove);
        rest.remove("messages");
        rest.remove("prompt");
        return Sha256.hex(endpoint + "\n" + tenant + "\n" + policy + "\n" + canonical(rest));
    }

    /** JSON with object keys sorted, so field order never splits equal requests. */
    static String canonical(JsonNode node) {
        if (node instanceof ObjectNode o) {
            List<String> names = new ArrayList<>();
            o.fieldNames().forEachRemaining(names::add);
            names.sort(null);
            ObjectNode sorted = JsonNodeFactory.instance.objectNode();
            for (String n : names) {
                sorted.set(n, JsonNodeFactory.instance.rawValueNode(new com.fasterxml.jackson.databind.util.RawValue(canonical(o.get(n)))));
            }
            return sorted.toString();
        }
        if (node instanceof ArrayNode a) {
            StringBuilder b = new StringBuilder("[");
            for (Iterator<JsonNode> it = a.elements(); it.hasNext(); ) {
                b.append(canonical(it.next()));
                if (it.hasNext()) {
                    b.append(',');
                }
            }
            return b.append(']').toString();
        }
        return node.toString();
    }

}
