package io.spillway.server.platform.cache;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;
import java.util.TreeMap;

/**
 * Rebuilds the whole (non-streaming) body of a completion from what was sent, a body or a stream of
 * chunks, so that one form can be cached and replayed in either. Chat and legacy completions alike.
 */
public final class CompletionRecorder {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private ObjectNode body;
    private ObjectNode head;
    private final Map<Integer, StringBuilder> texts = new TreeMap<>();
    private final Map<Integer, String> finishReasons = new TreeMap<>();
    private JsonNode usage;
    private boolean failed;
    private boolean done;

    /** A whole body was sent. */
    public void body(int status, JsonNode sent) {
        if (status == 200 && sent instanceof ObjectNode o && o.has("choices")) {
            body = o.deepCopy();
        } else {
            failed = true;
        }
    }

    /** One streamed payload was sent. */
    public void event(String payload) {
        if (failed) {
            return;
        }
        if (payload.equals("[DONE]")) {
            done = true;
            return;
        }
        JsonNode chunk;
        try {
            chunk = JSON.readTree(payload);
        } catch (Exception e) {
            failed = true;
            return;
        }
        if (chunk.has("error")) {
            failed = true;
            return;
        }
        if (head == null) {
            head = ((ObjectNode) chunk).deepCopy();
            head.remove("choices");
            head.remove("usage");
        }
        if (chunk.hasNonNull("usage")) {
            usage = chunk.get("usage");
        }
        for (JsonNode c : chunk.path("choices")) {
            int index = c.path("index").asInt();
            StringBuilder text = texts.computeIfAbsent(index, i -> new StringBuilder());
            if (c.has("delta")) {
                text.append(c.path("delta").path("content").asText(""));
            } else {
                text.append(c.path("text").asText(""));
            }
            if (c.hasNonNull("finish_reason")) {
                finishReasons.put(index, c.get("finish_reason").asText());
            }
        }
    }

    /**
     * The completed body, or null when the response failed, was cut short or carried something a
     * replay could not reproduce. {@code reported} fills in usage a stream did not include.
     */
    public ObjectNode completed(JsonNode reported) {
        if (failed) {
            return null;
        }
        if (body != null) {
            return body;
        }
        if (head == null || !done || texts.isEmpty() || finishReasons.size() != texts.size()) {
            return null;
        }
        boolean chat = head.path("object").asText().equals("chat.completion.chunk");
        ObjectNode out = head.deepCopy();
        out.put("object", chat ? "chat.completion" : "text_completion");
        ArrayNode choices = out.putArray("choices");
        for (Map.Entry<Integer, StringBuilder> e : texts.entrySet()) {
            ObjectNode c = choices.addObject();
            c.put("index", e.getKey());
            if (chat) {
                ObjectNode m = c.putObject("message");
                m.put("role", "assistant");
                m.put("content", e.getValue().toString());
                m.putNull("refusal");
            } else {
                c.put("text", e.getValue().toString());
            }
            c.putNull("logprobs");
            c.put("finish_reason", finishReasons.get(e.getKey()));
        }
        JsonNode u = usage != null ? usage : reported;
        if (u == null) {
            return null;
        }
        out.set("usage", u);
        return out;
    }

    /** A usage object from token counts. */
    public static ObjectNode usage(int prompt, int completion) {
        return F.objectNode().put("prompt_tokens", prompt).put("completion_tokens", completion).put("total_tokens", prompt + completion);
    }
}
