package io.spillway.models.tokenizer;

import java.util.List;

/**
 * Finds stop strings in a growing text and decides how much of it is safe to stream: text that
 * might still turn out to be the start of a stop string is held back until it no longer can.
 */
public final class StopStrings {

    private final List<String> stops;
    private final int longest;

    public StopStrings(List<String> stops) {
        this.stops = List.copyOf(stops);
        this.longest = stops.stream().mapToInt(String::length).max().orElse(0);
    }

    public boolean isEmpty() {
        return stops.isEmpty();
    }

    /** A stop string found at a position of the text. */
    public record Match(int index, String stop) {
    }

    /**
     * The earliest stop string in {@code text}, searching only where a match could involve the
     * characters added since {@code previousLength}; null when there is none.
     */
    public Match find(CharSequence text, int previousLength) {
        if (stops.isEmpty()) {
            return null;
        }
        int from = Math.max(0, previousLength - longest + 1);
        String window = text.subSequence(from, text.length()).toString();
        Match best = null;
        for (String stop : stops) {
            int at = window.indexOf(stop);
            if (at >= 0 && (best == null || at + from < best.index())) {
                best = new Match(at + from, stop);
            }
        }
        return best;
    }

    /** How many trailing characters of {@code text} must be held back: the longest suffix that begins a stop string. */
    public int holdBack(CharSequence text) {
        int n = text.length();
        int max = Math.min(n, longest - 1);
        for (int len = max; len > 0; len--) {
            CharSequence suffix = text.subSequence(n - len, n);
            for (String stop : stops) {
                if (stop.length() > len && stop.startsWith(suffix.toString())) {
                    return len;
                }
            }
        }
        return 0;
    }
}
