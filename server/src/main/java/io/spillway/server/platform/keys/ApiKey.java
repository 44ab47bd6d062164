package io.spillway.server.platform.keys;

import io.spillway.server.generation.KeyPolicy;
import io.spillway.server.generation.PiiOnSpill;
import io.spillway.server.platform.safety.SafetyAction;
import java.util.Optional;
import java.util.Set;

/**
 * An API key's identity and policy (never its secret, which is stored only as a hash).
 *
 * @param allowedModels model names it may use; empty: all
 * @param localOnly     its requests never leave this box (never spilled to Bedrock)
 * @param rpm           requests per limit window; 0: unlimited
 * @param tpm           tokens (prompt + completion) per limit window; 0: unlimited
 * @param monthlyBudgetUsd spend allowed per calendar month (UTC) at the router's prices; 0: none
 * @param semanticCache its requests may be answered from the semantic cache unless they opt out
 * @param pii           its PII action, overriding the server's; empty: the server's
 * @param logPrompts    the audit log keeps its prompts (after input redaction)
 * @param piiOnSpill    what of its personal data may leave the box when it spills; empty: the server's {@code router.pii-on-spill}
 */
public record ApiKey(String id, String tenant, String name, Set<String> allowedModels, boolean localOnly, int rpm, long tpm,
                     double monthlyBudgetUsd, boolean semanticCache, Optional<SafetyAction> pii, boolean logPrompts,
                     Optional<PiiOnSpill> piiOnSpill, long createdAt,
                     Long revokedAt) {

    public ApiKey {
        allowedModels = Set.copyOf(allowedModels);
    }

    /** What the key may do, as the request path sees it. */
    public KeyPolicy policy() {
        return new KeyPolicy(allowedModels, localOnly, rpm, tpm, monthlyBudgetUsd, semanticCache, pii.map(SafetyAction::id), logPrompts,
                piiOnSpill);
    }

    public boolean revoked() {
        return revokedAt != null;
    }
}
