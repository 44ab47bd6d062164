package io.spillway.server.platform.safety;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The placeholders of one conversation: every value the detector finds becomes {@code <STEM_n>}
 * ({@code <EMAIL_1>}, {@code <CARD_2>}), the same value always the same placeholder and different
 * values different ones, numbered per type in order of appearance. The mapping stays in this
 * object, in memory, for the life of one request: it is what puts the values back in the answer.
 *
 * <p>A text that already holds a string shaped like a placeholder ({@code <EMAIL_1>} typed by the
 * user) would be restored to a value it never meant; numbering skips every such string in the
 * texts given, so a placeholder this object hands out never collides with one the user wrote.
 */
public final class Pseudonyms {

    private final PiiDetector detector;
    private final Map<String, String> byValue = new HashMap<>();
    private final Map<String, String> byPlaceholder = new HashMap<>();
    private final Map<PiiType, Integer> next = new HashMap<>();
    private final Map<String, Integer> found = new TreeMap<>();
    private final java.util.Set<String> reserved = new java.util.HashSet<>();

    public Pseudonyms(PiiDetector detector) {
        this.detector = detector;
    }

    /**
     * Reserves every placeholder-shaped string in {@code text}; call it on every text of a
     * conversation before {@link #replace} so that no placeholder handed out is one of them.
     */
    public void reserve(String text) {
        java.util.regex.Matcher m = PlaceholderRestorer.PLACEHOLDER.matcher(text);
        while (m.find()) {
            reserved.add(m.group());
        }
    }

    /** {@code text} with every value found replaced by its placeholder. */
    public String replace(String text) {
        List<Finding> findings = detector.find(text);
        if (findings.isEmpty()) {
            return text;
        }
        StringBuilder out = new StringBuilder(text.length());
        int at = 0;
        for (Finding f : findings) {
            String value = text.substring(f.start(), f.end());
            out.append(text, at, f.start()).append(placeholderOf(PiiType.parse(f.type()), value));
            found.merge(f.type(), 1, Integer::sum);
            at = f.end();
        }
        return out.append(text, at, text.length()).toString();
    }

    private String placeholderOf(PiiType type, String value) {
        return byValue.computeIfAbsent(type.id() + "\u0000" + value, k -> {
            String placeholder;
            do {
                placeholder = "<" + type.pseudonym() + "_" + next.merge(type, 1, Integer::sum) + ">";
            } while (reserved.contains(placeholder));
            byPlaceholder.put(placeholder, value);
            return placeholder;
        });
    }

    /** Placeholder to value, for the way back. */
    public Map<String, String> values() {
        return Map.copyOf(byPlaceholder);
    }

    /** Values replaced, by type (occurrences, not distinct values). */
    public Map<String, Integer> found() {
        return Map.copyOf(found);
    }

    /** Whether any value was replaced. */
    public boolean any() {
        return !found.isEmpty();
    }

    /** The types found, in name order. */
    public List<String> types() {
        return new ArrayList<>(new TreeMap<>(found).keySet());
    }
}
