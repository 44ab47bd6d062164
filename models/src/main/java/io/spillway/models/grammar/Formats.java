package io.spillway.models.grammar;

import java.util.Map;
import java.util.Set;

/** String formats as anchored patterns of {@link Regex}'s subset. */
final class Formats {

    private static final String DATE = "\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])"
            + "|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|02-(?:0[1-9]|1\\d|2[0-8]))";
    private static final String TIME = "(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d{1,6})?(?:Z|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)";
    private static final String OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
    private static final String LABEL = "[a-z](?:[a-z0-9-]{0,10}[a-z0-9])?";
    private static final String ALNUM = "[A-Za-z0-9]{1,12}";

    private static final Map<String, String> PATTERNS = Map.of(
            "date", DATE,
            "time", TIME,
            "date-time", DATE + "T" + TIME,
            "uuid", "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            // Validators check the top-level domain against IANA's list: a few real ones only.
            "email", ALNUM + "(?:[._+-]" + ALNUM + "){0,2}@(?:" + LABEL + "\\.){1,2}(?:com|org|net|io|dev|de|fr|jp|uk)",
            "hostname", "(?:" + LABEL + "\\.){0,3}" + LABEL,
            "ipv4", OCTET + "(?:\\." + OCTET + "){3}");

    static final Set<String> NAMES = PATTERNS.keySet();

    private Formats() {
    }

    static Expr lower(String format, String pointer, Rules rules) {
        String pattern = PATTERNS.get(format);
        if (pattern == null) {
            throw new UnsupportedSchemaException("format", pointer, "format '" + format + "' (supported: "
                    + new java.util.TreeSet<>(NAMES) + ")");
        }
        return Regex.lower("^" + pattern + "$", pointer, rules);
    }
}
