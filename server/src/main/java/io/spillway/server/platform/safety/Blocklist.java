package io.spillway.server.platform.safety;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Configured words and phrases, matched whole and case-insensitively. */
public final class Blocklist {

    private final Pattern pattern;
    private final int longest;

    public Blocklist(List<String> terms) {
        List<String> sorted = new ArrayList<>(terms.stream().map(String::strip).filter(t -> !t.isEmpty()).toList());
        sorted.sort(Comparator.comparingInt(String::length).reversed());
        this.longest = sorted.isEmpty() ? 0 : sorted.get(0).length();
        this.pattern = sorted.isEmpty() ? null : Pattern.compile("(?<!\\w)(?:" + String.join("|", sorted.stream().map(Pattern::quote).toList())
                + ")(?!\\w)", Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE);
    }

    public boolean isEmpty() {
        return pattern == null;
    }

    /** Length of the longest term: a stream must hold back this much to see a term split across pieces. */
    public int longest() {
        return longest;
    }

    public List<Finding> find(CharSequence text) {
        if (pattern == null) {
            return List.of();
        }
        List<Finding> out = new ArrayList<>();
        Matcher m = pattern.matcher(text);
        while (m.find()) {
            out.add(new Finding("blocklist", m.start(), m.end()));
        }
        return out;
    }
}
