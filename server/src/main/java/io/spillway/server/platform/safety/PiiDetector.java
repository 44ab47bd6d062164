package io.spillway.server.platform.safety;

import java.math.BigInteger;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds personal and secret data by pattern, then confirms each candidate with the check its format
 * carries where it has one (Luhn for cards, ISO 7064 mod 97 for IBANs, an address parser for IPv6,
 * the SSA's never-issued ranges for SSNs), which is what keeps order numbers and version strings
 * out of the findings.
 *
 * <p>Every pattern spans whitespace only between digits, capitals and phone punctuation, so a
 * match never crosses a point where {@link #isSafeCut} holds: the streaming redactor relies on it.
 */
public final class PiiDetector {

    private static final Pattern EMAIL = Pattern.compile(
            "(?<![\\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\\.[A-Za-z0-9-]{1,63})*\\.[A-Za-z]{2,24}(?![\\w-])");
    private static final Pattern CARD = Pattern.compile("(?<![\\d-])\\d(?:[ -]?\\d){12,18}(?![\\d-])");
    private static final Pattern SSN = Pattern.compile("(?<![\\d-])(?!000|666|9\\d\\d)\\d{3}([- ])(?!00)\\d{2}\\1(?!0000)\\d{4}(?![\\d-])");
    private static final Pattern PHONE = Pattern.compile(
            "(?<![\\w+])(?:\\+\\d{1,3}[ .-]?(?:\\(\\d{1,4}\\)|\\d{1,4})|\\(\\d{2,4}\\)|\\d{2,4})(?:[ .-]?\\d{2,4}){2,4}(?![\\w-])");
    private static final Pattern IPV4 = Pattern.compile(
            "(?<![\\d.])(?:(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(?![\\d]|\\.\\d)");
    private static final Pattern IPV6 = Pattern.compile("(?<![\\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\\w:])");
    private static final Pattern AWS_KEY = Pattern.compile("(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|APKA)[A-Z0-9]{16}(?![A-Z0-9])");
    private static final Pattern IBAN = Pattern.compile("(?<![A-Z0-9])[A-Z]{2}\\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Z0-9])");

    private final Set<PiiType> types;

    public PiiDetector(Set<PiiType> types) {
        this.types = types.isEmpty() ? EnumSet.noneOf(PiiType.class) : EnumSet.copyOf(types);
    }

    public static PiiDetector all() {
        return new PiiDetector(EnumSet.allOf(PiiType.class));
    }

    /** Non-overlapping findings in text order (where two overlap, the longer, then the earlier-listed type wins). */
    public List<Finding> find(CharSequence text) {
        List<Finding> all = new ArrayList<>();
        if (types.contains(PiiType.EMAIL)) {
            collect(EMAIL, text, PiiType.EMAIL, all, m -> true);
        }
        if (types.contains(PiiType.AWS_ACCESS_KEY)) {
            collect(AWS_KEY, text, PiiType.AWS_ACCESS_KEY, all, m -> true);
        }
        if (types.contains(PiiType.IBAN)) {
            collect(IBAN, text, PiiType.IBAN, all, PiiDetector::validIban);
        }
        if (types.contains(PiiType.CREDIT_CARD)) {
            collect(CARD, text, PiiType.CREDIT_CARD, all, PiiDetector::validCard);
        }
        if (types.contains(PiiType.US_SSN)) {
            collect(SSN, text, PiiType.US_SSN, all, m -> true);
        }
        if (types.contains(PiiType.IP_ADDRESS)) {
            collect(IPV4, text, PiiType.IP_ADDRESS, all, m -> true);
            collect(IPV6, text, PiiType.IP_ADDRESS, all, PiiDetector::validIpv6);
        }
        if (types.contains(PiiType.PHONE)) {
            collect(PHONE, text, PiiType.PHONE, all, PiiDetector::validPhone);
        }
        all.sort(Comparator.comparingInt(Finding::start).thenComparing(f -> -(f.end() - f.start())));
        List<Finding> kept = new ArrayList<>();
        int end = -1;
        for (Finding f : all) {
            if (f.start() >= end) {
                kept.add(f);
                end = f.end();
            }
        }
        return kept;
    }

    private interface Check {
        boolean ok(String match);
    }

    private static void collect(Pattern p, CharSequence text, PiiType type, List<Finding> out, Check check) {
        Matcher m = p.matcher(text);
        while (m.find()) {
            if (check.ok(m.group())) {
                out.add(new Finding(type.id(), m.start(), m.end()));
            }
        }
    }

    /**
     * Whether no finding can span position {@code i} of {@code text}. Patterns allow only a single
     * space inside a match, and only between digits, capitals and phone parentheses; so a cut after
     * any other whitespace, after two whitespace characters, or between a space and a character that
     * cannot continue a number is safe.
     */
    public static boolean isSafeCut(CharSequence text, int i) {
        if (i <= 0 || i >= text.length() || !Character.isWhitespace(text.charAt(i - 1))) {
            return false;
        }
        if (text.charAt(i - 1) != ' ' || i < 2 || Character.isWhitespace(text.charAt(i - 2))) {
            return true;
        }
        return !(joins(text.charAt(i - 2)) && joins(text.charAt(i)));
    }

    private static boolean joins(char c) {
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || c == '(' || c == ')' || c == '+';
    }

    static boolean validCard(String match) {
        String digits = match.replaceAll("[ -]", "");
        if (digits.length() < 13 || digits.length() > 19 || digits.chars().distinct().count() < 2) {
            return false;
        }
        boolean knownIssuer = digits.startsWith("4") || digits.matches("^(5[1-5]|2[2-7]|3[47]|3[068]|6|35|62).*");
        return knownIssuer && luhn(digits);
    }

    static boolean luhn(String digits) {
        int sum = 0;
        boolean twice = false;
        for (int i = digits.length() - 1; i >= 0; i--) {
            int d = digits.charAt(i) - '0';
            if (twice) {
                d *= 2;
                if (d > 9) {
                    d -= 9;
                }
            }
            sum += d;
            twice = !twice;
        }
        return sum % 10 == 0;
    }

    static boolean validIban(String match) {
        String iban = match.replace(" ", "");
        if (iban.length() < 15 || iban.length() > 34) {
            return false;
        }
        String rearranged = iban.substring(4) + iban.substring(0, 4);
        StringBuilder numeric = new StringBuilder();
        for (char c : rearranged.toCharArray()) {
            numeric.append(Character.isDigit(c) ? String.valueOf(c) : String.valueOf(c - 'A' + 10));
        }
        return new BigInteger(numeric.toString()).mod(BigInteger.valueOf(97)).intValue() == 1;
    }

    static boolean validIpv6(String match) {
        // Three groups at least: "a::b" (C++) and clock times are not addresses anyone needs hidden.
        long groups = java.util.Arrays.stream(match.split(":")).filter(g -> !g.isEmpty()).count();
        if (groups < 3 || match.matches("\\d{1,2}:\\d{2}(:\\d{2})?")) {
            return false;
        }
        try {
            // A literal with colons is parsed, never looked up.
            return InetAddress.getByName(match) instanceof java.net.Inet6Address;
        } catch (UnknownHostException | IllegalArgumentException e) {
            return false;
        }
    }

    static boolean validPhone(String match) {
        long digits = match.chars().filter(Character::isDigit).count();
        boolean international = match.startsWith("+");
        boolean separated = match.matches(".*[ .()-].*");
        // Plain digit runs are left to other detectors (and to order numbers): a phone number is written
        // with a country code or separators.
        return (international || separated) && digits >= (international ? 8 : 10) && digits <= 15
                && !match.matches("\\d{4}-\\d{2}-\\d{2}");
    }
}
