package io.spillway.server.platform.safety;

import java.util.Locale;

/** Kinds of personal or secret data the PII filter finds; each redacts to {@code [REDACTED_<NAME>]}. */
public enum PiiType {
    EMAIL,
    PHONE,
    CREDIT_CARD,
    US_SSN,
    IP_ADDRESS,
    AWS_ACCESS_KEY,
    IBAN;

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
