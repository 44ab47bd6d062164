package io.spillway.server.platform.audit;

import java.util.Map;

/**
 * One line of the audit trail: who asked for what, where it ran, what it cost, what the filters
 * found (types and counts only), which tools it called (names and counts, never arguments) and how
 * it ended. {@code prompt} is null unless the key's policy asks for prompts to be logged; it is then
 * the prompt after input redaction.
 */
public record AuditRecord(String requestId, String time, String keyId, String tenant, String endpoint, String model, String route,
                          String cache, int promptTokens, int completionTokens, double costUsd, Map<String, Integer> inputFindings,
                          Map<String, Integer> outputFindings, Map<String, Integer> toolCalls, int status, String error,
                          double durationSeconds, String prompt) {

    public AuditRecord {
        inputFindings = Map.copyOf(inputFindings);
        outputFindings = Map.copyOf(outputFindings);
        toolCalls = Map.copyOf(toolCalls);
    }
}
