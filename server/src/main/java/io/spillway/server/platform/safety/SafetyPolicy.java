package io.spillway.server.platform.safety;

import java.util.Set;

/**
 * Which filters run and what each does: the server's default from {@code safety.*}, or a key's own.
 *
 * @param logPrompts whether the audit log may hold this key's prompt text (off by default)
 */
public record SafetyPolicy(SafetyAction pii, Set<PiiType> piiTypes, SafetyAction blocklist, SafetyAction classifier, boolean logPrompts) {

    public SafetyPolicy {
        piiTypes = Set.copyOf(piiTypes);
    }

    public SafetyPolicy withPii(SafetyAction action) {
        return new SafetyPolicy(action, piiTypes, blocklist, classifier, logPrompts);
    }

    public SafetyPolicy withLogPrompts(boolean log) {
        return new SafetyPolicy(pii, piiTypes, blocklist, classifier, log);
    }
}
