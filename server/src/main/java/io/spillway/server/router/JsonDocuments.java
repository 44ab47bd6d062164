package io.spillway.server.router;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import software.amazon.awssdk.core.SdkNumber;
import software.amazon.awssdk.core.document.Document;

/** JSON as Jackson reads it and as the AWS SDK carries it in Converse (tool schemas, tool inputs), both ways. */
final class JsonDocuments {

    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private JsonDocuments() {
    }

    static Document document(JsonNode node) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return Document.fromNull();
        }
        if (node.isObject()) {
            Map<String, Document> map = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                map.put(e.getKey(), document(e.getValue()));
            }
            return Document.fromMap(map);
        }
        if (node.isArray()) {
            List<Document> list = new ArrayList<>();
            node.forEach(n -> list.add(document(n)));
            return Document.fromList(list);
        }
        if (node.isBoolean()) {
            return Document.fromBoolean(node.asBoolean());
        }
        if (node.isIntegralNumber()) {
            return Document.fromNumber(SdkNumber.fromBigInteger(node.bigIntegerValue()));
        }
        if (node.isNumber()) {
            return Document.fromNumber(SdkNumber.fromBigDecimal(node.decimalValue()));
        }
        return Document.fromString(node.asText());
    }

    static JsonNode json(Document document) {
        if (document == null || document.isNull()) {
            return F.nullNode();
        }
        if (document.isMap()) {
            ObjectNode o = F.objectNode();
            document.asMap().forEach((k, v) -> o.set(k, json(v)));
            return o;
        }
        if (document.isList()) {
            ArrayNode a = F.arrayNode();
            document.asList().forEach(v -> a.add(json(v)));
            return a;
        }
        if (document.isBoolean()) {
            return F.booleanNode(document.asBoolean());
        }
        if (document.isNumber()) {
            return F.numberNode(document.asNumber().bigDecimalValue());
        }
        return F.textNode(document.asString());
    }
}
