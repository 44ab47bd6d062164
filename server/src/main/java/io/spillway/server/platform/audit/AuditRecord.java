package io.spillway.server.platform.audit;

import java.util.List;
import java.util.Map;

/**
 * One line of the audit trail: who asked for what, where it ran and why, what it cost, what the
 * filters found (types and counts only), which tools it called (names and counts, never arguments)
 * and how it ended. {@code prompt} is null unless the key's policy asks for prompts to be logged;
 * it is then the prompt after input redaction. For a request sent to Bedrock, {@code sentSha256}
 * is the SHA-256 of the exact bytes sent, so what left the box can be proven without the log
 * holding it. The log adds the chain's hashes to each line ({@link AuditLog}).
 */
public record AuditRecord(String requestId, String time, String keyId, String tenant, String endpoint, String model, String route,
                          List<String> routeReasons, String cache, int promptTokens, int completionTokens, double costUsd,
                          Map<String, Integer> inputFindings, Map<String, Integer> outputFindings, Map<String, Integer> toolCalls,
                          int status, String error, double durationSeconds, String prompt, String sentSha256) {

    public AuditRecord {
        routeReasons = List.copyOf(routeReasons);
        inputFindings = Map.copyOf(inputFindings);
        outputFindings = Map.copyOf(outputFindings);
        toolCalls = Map.copyOf(toolCalls);
    }
}
