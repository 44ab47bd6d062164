package io.spillway.server.platform.safety;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * The safety pipeline for one text under one policy: PII detection, the blocklist and the
 * classifier, each with its action. The result says what was found (types and positions, never
 * values), the text as it may go on, and whether a filter blocks it.
 */
public final class TextFilter {

    /** The filtered text, what was found, and whether a blocking filter fired. */
    public record Result(String text, List<Finding> findings, boolean blocked) {
    }

    private final SafetyPolicy policy;
    private final PiiDetector pii;
    private final Blocklist blocklist;
    private final Optional<ContentClassifier> classifier;

    public TextFilter(SafetyPolicy policy, Blocklist blocklist, Optional<ContentClassifier> classifier) {
        this.policy = policy;
        this.pii = new PiiDetector(policy.piiTypes());
        this.blocklist = blocklist;
        this.classifier = classifier;
    }

    public SafetyPolicy policy() {
        return policy;
    }

    /** Whether any filter runs under this policy. */
    public boolean active() {
        return policy.pii() != SafetyAction.OFF || (policy.blocklist() != SafetyAction.OFF && !blocklist.isEmpty())
                || (policy.classifier() != SafetyAction.OFF && classifier.isPresent());
    }

    /** Whether any filter may change the text (redact or block); flag-only policies never hold a stream back. */
    public boolean rewrites() {
        return rewrites(policy.pii()) || (rewrites(policy.blocklist()) && !blocklist.isEmpty())
                || (rewrites(policy.classifier()) && classifier.isPresent());
    }

    private static boolean rewrites(SafetyAction action) {
        return action == SafetyAction.REDACT || action == SafetyAction.BLOCK;
    }

    /** Characters a stream must hold back beyond a safe cut so a blocklisted phrase is seen whole. */
    public int holdBack() {
        return policy.blocklist() == SafetyAction.OFF ? 0 : blocklist.longest();
    }

    public Result apply(String text) {
        List<Finding> found = new ArrayList<>();
        List<Finding> redact = new ArrayList<>();
        boolean blocked = false;
        if (policy.pii() != SafetyAction.OFF) {
            List<Finding> f = pii.find(text);
            found.addAll(f);
            if (policy.pii() == SafetyAction.REDACT || policy.pii() == SafetyAction.BLOCK) {
                redact.addAll(f);
            }
            blocked |= policy.pii() == SafetyAction.BLOCK && !f.isEmpty();
        }
        if (policy.blocklist() != SafetyAction.OFF) {
            List<Finding> f = blocklist.find(text);
            found.addAll(f);
            if (policy.blocklist() == SafetyAction.REDACT || policy.blocklist() == SafetyAction.BLOCK) {
                redact.addAll(f);
            }
            blocked |= policy.blocklist() == SafetyAction.BLOCK && !f.isEmpty();
        }
        if (policy.classifier() != SafetyAction.OFF && classifier.isPresent()) {
            Optional<String> category = classifier.get().classify(text);
            if (category.isPresent()) {
                Finding f = new Finding("classifier:" + category.get(), 0, text.length());
                found.add(f);
                if (policy.classifier() == SafetyAction.REDACT || policy.classifier() == SafetyAction.BLOCK) {
                    redact.add(f);
                }
                blocked |= policy.classifier() == SafetyAction.BLOCK;
            }
        }
        return new Result(redact.isEmpty() ? text : redact(text, redact), List.copyOf(found), blocked);
    }

    /** {@code text} with each finding replaced by its type's marker ({@code [REDACTED_EMAIL]}, ...); where two overlap, the first and longer wins. */
    public static String redact(String text, List<Finding> findings) {
        List<Finding> sorted = new ArrayList<>(findings);
        sorted.sort(Comparator.comparingInt(Finding::start).thenComparing(f -> -(f.end() - f.start())));
        StringBuilder out = new StringBuilder(text.length());
        int at = 0;
        for (Finding f : sorted) {
            if (f.start() < at) {
                continue;
            }
            out.append(text, at, f.start()).append(placeholder(f.type()));
            at = f.end();
        }
        return out.append(text, at, text.length()).toString();
    }

    private static String placeholder(String type) {
        if (type.equals("blocklist")) {
            return "[BLOCKED]";
        }
        if (type.startsWith("classifier:")) {
            return "[REMOVED]";
        }
        return PiiType.parse(type).placeholder();
    }
}
