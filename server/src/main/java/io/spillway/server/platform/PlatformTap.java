package io.spillway.server.platform;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.server.http.ResponseTap;
import io.spillway.server.platform.cache.CompletionRecorder;
import io.spillway.server.platform.cache.SharedResponse;
import io.spillway.server.platform.safety.Finding;
import io.spillway.server.platform.safety.StreamRedactor;
import io.spillway.server.platform.safety.TextFilter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What a generated response passes through on its way out: the output filter (redacting bodies
 * whole and streams piece by piece, per choice, never releasing part of a match), then the recorder
 * (for the caches) and the followers of a de-duplicated request, which so see exactly what the
 * leader's caller saw.
 */
final class PlatformTap implements ResponseTap {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final TextFilter filter;
    private final CompletionRecorder recorder;
    private final SharedResponse shared;
    private final Map<Integer, StreamRedactor> redactors = new HashMap<>();
    private final List<Finding> findings = new ArrayList<>();

    /** Any part may be null (not in use for this request). */
    PlatformTap(TextFilter filter, CompletionRecorder recorder, SharedResponse shared) {
        this.filter = filter;
        this.recorder = recorder;
        this.shared = shared;
    }

    /** Output findings so far (after the stream ended: all of them). */
    synchronized List<Finding> findings() {
        List<Finding> all = new ArrayList<>(findings);
        redactors.values().forEach(r -> all.addAll(r.findings()));
        return all;
    }

    @Override
    public synchronized JsonNode body(int status, JsonNode body) {
        JsonNode out = status == 200 && filter != null ? filterBody(body) : body;
        if (recorder != null) {
            recorder.body(status, out);
        }
        if (shared != null) {
            shared.body(status, out);
        }
        return out;
    }

    private JsonNode filterBody(JsonNode body) {
        if (!(body instanceof ObjectNode o) || !o.has("choices")) {
            return body;
        }
        ObjectNode copy = o.deepCopy();
        for (JsonNode c : copy.path("choices")) {
            ObjectNode holder = c.has("message") ? (ObjectNode) c.get("message") : (ObjectNode) c;
            String field = c.has("message") ? "content" : "text";
            if (holder.path(field).isTextual()) {
                TextFilter.Result r = filter.apply(holder.get(field).asText());
                findings.addAll(r.findings());
                holder.put(field, r.text());
            }
        }
        return copy;
    }

    @Override
    public synchronized List<String> event(String payload) {
        List<String> out = filter == null ? List.of(payload) : filterEvent(payload);
        for (String p : out) {
            if (recorder != null) {
                recorder.event(p);
            }
            if (shared != null) {
                shared.event(p);
            }
        }
        return out;
    }

    private List<String> filterEvent(String payload) {
        if (payload.equals("[DONE]")) {
            return List.of(payload);
        }
        JsonNode chunk;
        try {
            chunk = JSON.readTree(payload);
        } catch (Exception e) {
            return List.of(payload);
        }
        if (!(chunk instanceof ObjectNode o) || !o.path("choices").isArray() || o.path("choices").isEmpty()) {
            return List.of(payload);
        }
        for (JsonNode c : o.path("choices")) {
            int index = c.path("index").asInt();
            StreamRedactor redactor = redactors.computeIfAbsent(index, i -> new StreamRedactor(filter));
            boolean chat = c.has("delta");
            ObjectNode holder = chat ? (ObjectNode) c.get("delta") : (ObjectNode) c;
            String field = chat ? "content" : "text";
            boolean finished = c.hasNonNull("finish_reason");
            String released = holder.path(field).isTextual() ? redactor.add(holder.get(field).asText()) : "";
            if (finished) {
                released += redactor.flush();
            }
            if (holder.has(field) || !released.isEmpty()) {
                holder.put(field, released);
            }
        }
        return List.of(o.toString());
    }

    @Override
    public synchronized void ended(boolean delivered) {
        if (shared != null) {
            shared.end();
        }
    }
}
