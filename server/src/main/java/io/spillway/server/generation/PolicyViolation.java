package io.spillway.server.generation;

import io.spillway.server.wire.OpenAiException;
import java.util.Map;
import java.util.TreeMap;

/** A request refused by a content filter; it names what was found (types and counts, never values). */
public final class PolicyViolation extends OpenAiException {

    private final Map<String, Integer> findings;

    public PolicyViolation(Map<String, Integer> findings) {
        super(400, "invalid_request_error", "The request was refused by the content policy: it contains "
                + String.join(", ", new TreeMap<>(findings).keySet()) + ".", "messages", "content_policy_violation", 0);
        this.findings = Map.copyOf(findings);
    }

    public Map<String, Integer> findings() {
        return findings;
    }
}
