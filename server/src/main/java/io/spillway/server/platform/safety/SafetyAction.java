package io.spillway.server.platform.safety;

import java.util.Locale;

/** What a filter does with a finding. */
public enum SafetyAction {
    /** The filter does not run. */
    OFF,
    /** Record the finding (audit, metrics); change nothing. */
    FLAG,
    /** Replace the match with a placeholder. */
    REDACT,
    /** Refuse the request (on input); on output, where text may already be streaming, redact. */
    BLOCK;

    public static SafetyAction parse(String s) {
        try {
            return valueOf(s.strip().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown safety action '" + s + "'; expected off, flag, redact or block");
        }
    }

    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }
}
