package io.spillway.server.platform.cache;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.server.generation.CacheOutcome;
import io.spillway.server.generation.GenerationEvent;
import io.spillway.server.generation.Route;
import io.spillway.server.wire.FinishReason;
import io.spillway.server.wire.Source;
import io.spillway.server.wire.StopReason;
import io.spillway.server.wire.ToolCall;
import io.spillway.server.wire.Usage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A stored answer as text, for the semantic cache's entries in the database: every replica must be
 * able to replay an answer another one generated, exactly as it was.
 */
final class StoredCompletionJson {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private StoredCompletionJson() {
    }

    static String write(StoredCompletion c) {
        ObjectNode o = F.objectNode();
        GenerationEvent.Started s = c.started();
        ObjectNode started = o.putObject("started");
        started.put("route", s.route().name());
        started.put("model", s.model());
        s.systemFingerprint().ifPresent(f -> started.put("system_fingerprint", f));
        started.put("choices", s.choices());
        started.put("token_output", s.tokenOutput());
        s.sources().ifPresent(list -> {
            ArrayNode a = started.putArray("sources");
            for (Source src : list) {
                ObjectNode x = a.addObject().put("index", src.index()).put("id", src.id()).put("score", src.score());
                src.documentId().ifPresent(d -> x.put("document_id", d));
            }
        });
        ArrayNode choices = o.putArray("choices");
        for (StoredCompletion.Choice ch : c.choices()) {
            ObjectNode x = choices.addObject();
            x.put("index", ch.index()).put("text", ch.text()).put("reasoning", ch.reasoning()).put("reason", ch.reason().name());
            ArrayNode calls = x.putArray("tool_calls");
            for (ToolCall t : ch.toolCalls()) {
                calls.addObject().put("id", t.id()).put("name", t.name()).put("arguments", t.arguments());
            }
            ArrayNode ids = x.putArray("token_ids");
            for (int id : ch.tokenIds()) {
                ids.add(id);
            }
            ch.stop().ifPresent(stop -> {
                switch (stop) {
                    case StopReason.Text t -> x.put("stop_text", t.stop());
                    case StopReason.Token t -> x.put("stop_token", t.id());
                }
            });
        }
        Usage u = c.usage();
        o.putObject("usage").put("prompt", u.promptTokens()).put("completion", u.completionTokens()).put("cached", u.cachedTokens())
                .put("reasoning", u.reasoningTokens()).put("cost_usd", u.costUsd());
        return o.toString();
    }

    static StoredCompletion read(String text) {
        JsonNode o;
        try {
            o = JSON.readTree(text);
        } catch (IOException e) {
            throw new UncheckedIOException("an unreadable semantic cache entry", e);
        }
        JsonNode s = o.get("started");
        Optional<List<Source>> sources = Optional.empty();
        if (s.has("sources")) {
            List<Source> list = new ArrayList<>();
            for (JsonNode x : s.get("sources")) {
                list.add(new Source(x.get("index").asInt(), x.get("id").asText(),
                        x.has("document_id") ? Optional.of(x.get("document_id").asText()) : Optional.empty(), x.get("score").asDouble()));
            }
            sources = Optional.of(list);
        }
        GenerationEvent.Started started = new GenerationEvent.Started(Route.valueOf(s.get("route").asText()), s.get("model").asText(),
                s.has("system_fingerprint") ? Optional.of(s.get("system_fingerprint").asText()) : Optional.empty(), CacheOutcome.MISS,
                s.get("choices").asInt(), sources, s.get("token_output").asBoolean());
        List<StoredCompletion.Choice> choices = new ArrayList<>();
        for (JsonNode x : o.get("choices")) {
            List<ToolCall> calls = new ArrayList<>();
            for (JsonNode t : x.get("tool_calls")) {
                calls.add(new ToolCall(t.get("id").asText(), t.get("name").asText(), t.get("arguments").asText()));
            }
            int[] ids = new int[x.get("token_ids").size()];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = x.get("token_ids").get(i).asInt();
            }
            Optional<StopReason> stop = x.has("stop_text") ? Optional.of(new StopReason.Text(x.get("stop_text").asText()))
                    : x.has("stop_token") ? Optional.of(new StopReason.Token(x.get("stop_token").asInt())) : Optional.empty();
            choices.add(new StoredCompletion.Choice(x.get("index").asInt(), x.get("text").asText(), x.get("reasoning").asText(), calls, ids,
                    FinishReason.valueOf(x.get("reason").asText()), stop));
        }
        JsonNode u = o.get("usage");
        return new StoredCompletion(started, choices, new Usage(u.get("prompt").asInt(), u.get("completion").asInt(), u.get("cached").asInt(),
                u.get("reasoning").asInt(), u.get("cost_usd").asDouble()));
    }
}
