package io.spillway.server.rag;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Cuts documents into overlapping chunks measured in the embedding model's tokens, so that every
 * chunk fits the model's window and nothing is silently truncated at embedding time.
 *
 * <p>A chunk ends at the best boundary inside the last half of its window: a Markdown heading,
 * then a blank line, then a line break, then a sentence end, then any token. The next chunk starts
 * {@code overlapTokens} before the previous one ended, so a fact cut at a boundary still appears
 * whole in one of the two. Markdown chunks remember the heading path they sit under
 * ("Install > Linux"), which is also embedded with them: a passage under "Pricing" is about
 * pricing even when its text never says so. Markdown sections (from one heading to the next) are
 * chunked separately: a chunk never straddles two headings.
 *
 * <p>A chunk's text is exactly the document's between its offsets, less surrounding whitespace,
 * and the chunks of a section together hold every character of it (a Markdown section that is
 * only a heading has no chunks: it lives on in the heading path of those under it). A chunk runs
 * up to where the next token starts, not where its own last token ends: tokenizers leave some
 * characters in no token (combining marks, joiners, direction marks, which BERT's normalizer
 * drops), and those must stay with the text they follow rather than fall between two chunks.
 */
public final class Chunker {

    public enum Format {
        TEXT, MARKDOWN;

        public static Format parse(String s) {
            return switch (s) {
                case "text", "plain", "txt" -> TEXT;
                case "markdown", "md" -> MARKDOWN;
                default -> throw new IllegalArgumentException("unknown document format '" + s + "': use text or markdown");
            };
        }
    }

    /** A chunk: its text, which is the document's {@code [start, end)}, and its Markdown heading path (or ""). */
    public record Chunk(String text, int start, int end, String section) {
        /** What gets embedded: the section path gives the passage its context. */
        public String embeddingText() {
            return section.isEmpty() ? text : section + "\n\n" + text;
        }
    }

    private final Function<String, int[][]> tokenSpans;
    private final int chunkTokens;
    private final int overlapTokens;

    /**
     * @param tokenSpans offsets [start, end) of each token of a text, as indices into the Java string
     *     (UTF-16 units), without special tokens
     */
    public Chunker(Function<String, int[][]> tokenSpans, int chunkTokens, int overlapTokens) {
        if (chunkTokens < 8) {
            throw new IllegalArgumentException("chunks must be at least 8 tokens, got " + chunkTokens);
        }
        if (overlapTokens < 0 || overlapTokens >= chunkTokens / 2) {
            throw new IllegalArgumentException("chunk overlap must be in [0, chunk size / 2), got " + overlapTokens + " for chunks of "
                    + chunkTokens);
        }
        this.tokenSpans = tokenSpans;
        this.chunkTokens = chunkTokens;
        this.overlapTokens = overlapTokens;
    }

    public List<Chunk> chunk(String text, Format format) {
        List<Chunk> out = new ArrayList<>();
        int[][] spans = compact(tokenSpans.apply(text));
        if (spans.length == 0) {
            return out;
        }
        if (format == Format.TEXT) {
            window(text, spans, 0, spans.length, 0, text.length(), chunkTokens, "", format, out);
            return out;
        }
        // Markdown: every heading starts a new section, and sections are chunked on their own,
        // so a chunk never mixes two topics and always knows its heading path.
        int window = Math.max(chunkTokens - 24, chunkTokens / 2); // leaves room for the embedded heading path
        List<Integer> starts = headingOffsets(text);
        int t = 0;
        for (int s = 0; s < starts.size(); s++) {
            int from = starts.get(s);
            int to = s + 1 < starts.size() ? starts.get(s + 1) : text.length();
            int firstToken = t;
            while (t < spans.length && spans[t][0] < to) {
                t++;
            }
            int lineEnd = text.indexOf('\n', from);
            lineEnd = lineEnd < 0 || lineEnd > to ? to : lineEnd;
            boolean headingOnly = isHeading(text, from) && text.substring(lineEnd, to).isBlank();
            if (t > firstToken && !headingOnly) {
                String section = sectionAt(text, Math.min(to, lineEnd + 1));
                window(text, spans, firstToken, t, from, to, window, section, format, out);
            }
        }
        return out;
    }

    /** Chunks tokens [first, last) of the text span [textFrom, textTo) they lie in. */
    private void window(String text, int[][] spans, int first, int last, int textFrom, int textTo, int size, String section,
                        Format format, List<Chunk> out) {
        int start = first;
        while (start < last) {
            int end = Math.min(start + size, last);
            if (end < last) {
                end = bestBreak(text, spans, start + size / 2, end, format);
            }
            int from = start == first ? textFrom : spans[start][0];
            int to = end == last ? textTo : Math.max(from, spans[end][0]);
            while (from < to && Character.isWhitespace(text.codePointAt(from))) {
                from += Character.charCount(text.codePointAt(from));
            }
            while (to > from && Character.isWhitespace(text.codePointBefore(to))) {
                to -= Character.charCount(text.codePointBefore(to));
            }
            if (from < to) {
                out.add(new Chunk(text.substring(from, to), from, to, section));
            }
            if (end >= last) {
                break;
            }
            int next = end - overlapTokens;
            start = next > start ? next : end;
        }
    }

    /** Offsets where sections start: 0, then every heading line outside code fences. */
    private static List<Integer> headingOffsets(String text) {
        List<Integer> starts = new ArrayList<>();
        starts.add(0);
        boolean inFence = false;
        int pos = 0;
        while (pos < text.length()) {
            int eol = text.indexOf('\n', pos);
            eol = eol < 0 ? text.length() : eol;
            if (text.startsWith("```", pos) || text.startsWith("~~~", pos)) {
                inFence = !inFence;
            } else if (!inFence && pos > 0 && isHeading(text, pos)) {
                starts.add(pos);
            }
            pos = eol + 1;
        }
        return starts;
    }

    private static boolean isHeading(String text, int lineStart) {
        int level = 0;
        while (lineStart + level < text.length() && text.charAt(lineStart + level) == '#') {
            level++;
        }
        return level >= 1 && level <= 6 && lineStart + level < text.length() && text.charAt(lineStart + level) == ' ';
    }

    /** Tokens with no characters (some special or merged tokens) carry no position: drop them. */
    private static int[][] compact(int[][] spans) {
        List<int[]> kept = new ArrayList<>(spans.length);
        for (int[] s : spans) {
            if (s != null && s[1] > s[0]) {
                kept.add(s);
            }
        }
        return kept.toArray(new int[0][]);
    }

    /** The end (exclusive token index) in [lo, hi] after the strongest boundary, latest on ties. */
    private static int bestBreak(String text, int[][] spans, int lo, int hi, Format format) {
        int best = hi;
        int bestStrength = 0;
        for (int e = hi; e > lo; e--) {
            // Boundary between token e-1 and token e: look at the gap and the next token's start.
            int gapStart = spans[e - 1][1];
            int nextStart = e < spans.length ? spans[e][0] : text.length();
            int strength = strength(text, gapStart, nextStart, format);
            if (strength > bestStrength) {
                best = e;
                bestStrength = strength;
                if (strength == 5) {
                    break;
                }
            }
        }
        return best;
    }

    private static int strength(String text, int gapStart, int nextStart, Format format) {
        String gap = text.substring(gapStart, Math.max(gapStart, nextStart));
        boolean lineStart = nextStart > 0 && nextStart <= text.length() && (nextStart == text.length() || gap.contains("\n"));
        if (format == Format.MARKDOWN && lineStart && nextStart < text.length() && isHeading(text, nextStart)) {
            return 5;
        }
        if (gap.indexOf('\n') != gap.lastIndexOf('\n')) {
            return 4;
        }
        if (gap.contains("\n")) {
            return 3;
        }
        char last = gapStart > 0 ? text.charAt(gapStart - 1) : ' ';
        if ((last == '.' || last == '!' || last == '?' || last == ';' || last == ':') && !gap.isEmpty()) {
            return 2;
        }
        return gap.isEmpty() ? 0 : 1;
    }

    /** The chain of Markdown headings above {@code offset}, outermost first, joined with " > ". */
    static String sectionAt(String text, int offset) {
        String[] path = new String[7];
        int pos = 0;
        boolean inFence = false;
        while (pos < offset) {
            int eol = text.indexOf('\n', pos);
            if (eol < 0) {
                eol = text.length();
            }
            String line = text.substring(pos, eol);
            if (line.startsWith("```") || line.startsWith("~~~")) {
                inFence = !inFence;
            } else if (!inFence && line.startsWith("#")) {
                int level = 0;
                while (level < line.length() && line.charAt(level) == '#') {
                    level++;
                }
                if (level <= 6 && level < line.length() && line.charAt(level) == ' ') {
                    path[level] = line.substring(level).strip();
                    for (int deeper = level + 1; deeper < path.length; deeper++) {
                        path[deeper] = null;
                    }
                }
            }
            pos = eol + 1;
        }
        StringBuilder sb = new StringBuilder();
        for (String h : path) {
            if (h != null && !h.isEmpty()) {
                if (sb.length() > 0) {
                    sb.append(" > ");
                }
                sb.append(h);
            }
        }
        return sb.toString();
    }
}
