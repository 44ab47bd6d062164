package io.spillway.server.generation;

import java.util.Locale;

/** What may leave the box when a request with personal data spills to a hosted model. */
public enum PiiOnSpill {
    /** Never sent: it waits for the local engine, or is refused; a hosted-only model refuses it. */
    LOCAL_ONLY,
    /** Each value replaced by a stable placeholder before it leaves, and put back in the answer. */
    PSEUDONYMIZE,
    /** Each value replaced by its type's redaction marker; the answer keeps the marker. */
    REDACT,
    /** Sent as it is. */
    ALLOW;

    /** As configuration and the CLI write it: local-only, pseudonymize, redact, allow. */
    public String id() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    public static PiiOnSpill parse(String id) {
        for (PiiOnSpill p : values()) {
            if (p.id().equals(id.strip().toLowerCase(Locale.ROOT))) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown pii-on-spill policy '" + id + "'; expected local-only, pseudonymize, redact or allow");
    }
}
