package io.spillway.server.platform.safety;

import java.util.Locale;

/**
 * Kinds of personal or secret data the PII filter finds; each redacts to {@code [REDACTED_<NAME>]} and
 * is pseudonymized to {@code <STEM_n>}.
 */
public enum PiiType {
    EMAIL("EMAIL"),
    PHONE("PHONE"),
    CREDIT_CARD("CARD"),
    US_SSN("SSN"),
    IP_ADDRESS("IP"),
    AWS_ACCESS_KEY("AWS_KEY"),
    IBAN("IBAN");

    private final String pseudonym;

    PiiType(String pseudonym) {
        this.pseudonym = pseudonym;
    }

    /** The stem of the placeholders a pseudonymized value of this type becomes: {@code <CARD_1>}. */
    public String pseudonym() {
        return pseudonym;
    }

    /** The name used in configuration, metrics and the audit log. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    public String placeholder() {
        return "[REDACTED_" + name() + "]";
    }

    public static PiiType parse(String id) {
        try {
            return valueOf(id.strip().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown PII type '" + id + "'; known: email, phone, credit_card, us_ssn,"
                    + " ip_address, aws_access_key, iban");
        }
    }
}
