package io.spillway.server.platform.cache;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * Sends a stored completion to a new caller, as a body or as the stream of chunks the caller asked
 * for, under a fresh id and creation time (the answer is reused; the response is new).
 */
public final class CompletionReplay {

    private CompletionReplay() {
    }

    public static ObjectNode body(ObjectNode stored, Clock clock) {
        ObjectNode out = stored.deepCopy();
        boolean chat = stored.path("object").asText().equals("chat.completion");
        out.put("id", (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", ""));
        out.put("created", clock.instant().getEpochSecond());
        return out;
    }

    /** The chunks of a stream carrying {@code stored}, ending with "[DONE]". */
    public static List<String> stream(ObjectNode stored, boolean includeUsage, Clock clock) {
        ObjectNode fresh = body(stored, clock);
        boolean chat = stored.path("object").asText().equals("chat.completion");
        ObjectNode head = fresh.deepCopy();
        head.remove("choices");
        head.remove("usage");
        head.put("object", chat ? "chat.completion.chunk" : "text_completion");
        List<String> out = new ArrayList<>();
        for (JsonNode c : fresh.path("choices")) {
            int index = c.path("index").asInt();
            String text = chat ? c.path("message").path("content").asText("") : c.path("text").asText("");
            if (chat) {
                out.add(chunk(head, index, includeUsage, ch -> ch.putObject("delta").put("role", "assistant").put("content", "")));
            }
            out.add(chunk(head, index, includeUsage, ch -> {
                if (chat) {
                    ch.putObject("delta").put("content", text);
                } else {
                    ch.put("text", text);
                    ch.putNull("logprobs");
                }
            }));
            out.add(chunk(head, index, includeUsage, ch -> {
                if (chat) {
                    ch.putObject("delta");
                } else {
                    ch.put("text", "");
                    ch.putNull("logprobs");
                }
                ch.put("finish_reason", c.path("finish_reason").asText("stop"));
            }));
        }
        if (includeUsage) {
            ObjectNode last = head.deepCopy();
            last.putArray("choices");
            last.set("usage", fresh.get("usage"));
            out.add(last.toString());
        }
        out.add("[DONE]");
        return out;
    }

    private static String chunk(ObjectNode head, int index, boolean includeUsage, java.util.function.Consumer<ObjectNode> fill) {
        ObjectNode o = head.deepCopy();
        ObjectNode choice = o.putArray("choices").addObject();
        choice.put("index", index);
        fill.accept(choice);
        if (!choice.has("finish_reason")) {
            choice.putNull("finish_reason");
        }
        if (includeUsage) {
            o.putNull("usage");
        }
        return o.toString();
    }
}
