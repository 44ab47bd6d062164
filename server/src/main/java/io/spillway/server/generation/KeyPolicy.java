package io.spillway.server.generation;

import java.util.Optional;
import java.util.Set;

/**
 * What an API key may do and how its requests are treated.
 *
 * @param allowedModels    model names it may use; empty: all
 * @param localOnly        its requests never leave this box (never spilled to Bedrock)
 * @param requestsPerWindow requests per limit window; 0: unlimited
 * @param tokensPerWindow  tokens (prompt + completion) per limit window; 0: unlimited
 * @param monthlyBudgetUsd spend allowed per calendar month (UTC); 0: none
 * @param semanticCache    its requests may be answered from the semantic cache unless they opt out
 * @param piiAction        its PII action (off, flag, redact, block), overriding the server's; empty: the server's
 * @param logPrompts       the audit log keeps its prompts (after input redaction)
 * @param piiOnSpill       what of its personal data may leave the box when it spills, overriding the server's; empty: the server's
 */
public record KeyPolicy(Set<String> allowedModels, boolean localOnly, int requestsPerWindow, long tokensPerWindow,
                        double monthlyBudgetUsd, boolean semanticCache, Optional<String> piiAction, boolean logPrompts,
                        Optional<PiiOnSpill> piiOnSpill) {

    /** No limits, the server's defaults: callers without a stored key. */
    public static final KeyPolicy DEFAULT = new KeyPolicy(Set.of(), false, 0, 0, 0, false, Optional.empty(), false, Optional.empty());

    public KeyPolicy {
        allowedModels = Set.copyOf(allowedModels);
    }

    public boolean allows(String model) {
        return allowedModels.isEmpty() || allowedModels.contains(model);
    }
}
