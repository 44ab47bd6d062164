package io.spillway.server.rag;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class ChunkerTest {

    /** Words and punctuation as tokens: enough to check the chunker's arithmetic exactly. */
    private static int[][] wordSpans(String text) {
        List<int[]> spans = new ArrayList<>();
        Matcher m = Pattern.compile("\\w+|[^\\w\\s]").matcher(text);
        while (m.find()) {
            spans.add(new int[] {m.start(), m.end()});
        }
        return spans.toArray(new int[0][]);
    }

    private static int tokens(String s) {
        return wordSpans(s).length;
    }

    @Test
    void chunksFitTheWindowOverlapAndCoverEverything() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 300; i++) {
            sb.append("Sentence number ").append(i).append(" says something.").append(i % 7 == 6 ? "\n\n" : " ");
        }
        String text = sb.toString();
        Chunker chunker = new Chunker(ChunkerTest::wordSpans, 50, 10);
        List<Chunker.Chunk> chunks = chunker.chunk(text, Chunker.Format.TEXT);
        assertTrue(chunks.size() > 20);
        for (int i = 0; i < chunks.size(); i++) {
            Chunker.Chunk c = chunks.get(i);
            assertTrue(tokens(c.text()) <= 50, "chunk " + i + " has " + tokens(c.text()) + " tokens");
            assertTrue(i == chunks.size() - 1 || tokens(c.text()) >= 25, "chunks end in the last half of the window: " + tokens(c.text()));
            assertEquals(text.substring(c.start(), c.end()).strip(), c.text());
            if (i > 0) {
                Chunker.Chunk prev = chunks.get(i - 1);
                assertTrue(c.start() < prev.end(), "consecutive chunks overlap");
                assertTrue(c.start() > prev.start(), "and make progress");
            }
        }
        assertEquals(0, chunks.get(0).start());
        assertEquals(text.strip().length(), chunks.get(chunks.size() - 1).end());
        // Breaks prefer sentence ends: most chunks end with a full stop.
        long clean = chunks.stream().filter(c -> c.text().endsWith(".")).count();
        assertTrue(clean >= chunks.size() - 1, clean + " of " + chunks.size() + " chunks end at a sentence");
    }

    @Test
    void markdownSectionsAreChunkedApartWithTheirHeadingPath() {
        String md = """
                # Guide

                ## Install
                Run the installer. It takes a minute.

                ```
                # not a heading inside a fence
                ```

                ### Linux
                Use the tarball on Linux.

                ## Pricing
                The price is ten euros a month.
                """;
        List<Chunker.Chunk> chunks = new Chunker(ChunkerTest::wordSpans, 100, 10).chunk(md, Chunker.Format.MARKDOWN);
        assertEquals(List.of("Guide > Install", "Guide > Install > Linux", "Guide > Pricing"),
                chunks.stream().map(Chunker.Chunk::section).toList());
        assertTrue(chunks.get(0).text().contains("# not a heading inside a fence"));
        assertTrue(chunks.get(2).text().startsWith("## Pricing"));
        assertEquals("Guide > Pricing\n\n" + chunks.get(2).text(), chunks.get(2).embeddingText());
    }

    /**
     * Offsets as the embedding model's BERT tokenizer reports them (in UTF-16 units): words of
     * letters and digits, ideographs and every other symbol one by one. Combining marks, format
     * characters (joiners, direction marks) and variation selectors are in no token, as its
     * normalizer drops them: text the chunker must carry across the gaps between tokens.
     */
    private static int[][] bertLikeSpans(String text) {
        List<int[]> spans = new ArrayList<>();
        int i = 0;
        while (i < text.length()) {
            int cp = text.codePointAt(i);
            int next = i + Character.charCount(cp);
            if (Character.isWhitespace(cp) || inNoToken(cp)) {
                i = next;
            } else if (inWord(cp)) {
                int start = i;
                int end = next;
                i = next;
                while (i < text.length() && (inWord(text.codePointAt(i)) || inNoToken(text.codePointAt(i)))) {
                    int c = text.codePointAt(i);
                    i += Character.charCount(c);
                    if (inWord(c)) {
                        end = i;
                    }
                }
                spans.add(new int[] {start, end});
            } else {
                spans.add(new int[] {i, next});
                i = next;
            }
        }
        return spans.toArray(new int[0][]);
    }

    private static boolean inWord(int cp) {
        return Character.isLetterOrDigit(cp) && !Character.isIdeographic(cp);
    }

    private static boolean inNoToken(int cp) {
        int type = Character.getType(cp);
        return type == Character.NON_SPACING_MARK || type == Character.ENCLOSING_MARK || type == Character.COMBINING_SPACING_MARK
                || type == Character.FORMAT;
    }

    /** Sentences in many scripts; numbered so that no two are alike. */
    private static String multilingual(int sentences, boolean markdown) {
        String[] kinds = {
                "Sentence %d ends with an emoji 😀",
                "東京は日本の首都です、第%d文。𠜎𠜱𠝹も漢字です",
                "Cafe\u0301 %d: cre\u0300me bru\u0302le\u0301e, Ñandú and Zoë\u0301",
                "\u05E9\u05DC\u05D5\u05DD %d \u05E2\u05D5\u05DC\u05DD\u200F \u0645\u0631\u062D\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645\u200F",
                "Family 👨\u200D👩\u200D👧\u200D👦 %d, flag 🇯🇵, thumbs 👍🏽, keycap 1\uFE0F\u20E3, math 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
                "नमस्ते दुनिया %d, สวัสดีชาวโลก, Ελληνικά e\u0301\u0301",
        };
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < sentences; i++) {
            if (markdown && i % 9 == 0) {
                sb.append(i == 0 ? "" : "\n").append("#".repeat(1 + i / 9 % 3)).append(" Abschnitt ").append(i).append(" 🚀 見出し\n");
            }
            sb.append(kinds[i % kinds.length].formatted(i)).append(i % 4 == 3 ? "\n\n" : i % 2 == 0 ? ". " : " ");
        }
        // Ends on characters that belong to no token: a combining mark after a direction mark.
        return sb.append("fin\u200Fe\u0301").toString();
    }

    /**
     * Each chunk is exactly the document's text between its offsets, starts and ends on whole
     * characters, and together the chunks hold every character of the document that is not
     * whitespace between them.
     */
    private static void assertChunksHoldTheDocumentExactly(String text, List<Chunker.Chunk> chunks, String how) {
        assertFalse(chunks.isEmpty(), how);
        boolean[] covered = new boolean[text.length()];
        for (int i = 0; i < chunks.size(); i++) {
            Chunker.Chunk c = chunks.get(i);
            assertTrue(0 <= c.start() && c.start() < c.end() && c.end() <= text.length(), how + ": chunk " + i + " at " + c.start()
                    + ".." + c.end());
            assertEquals(text.substring(c.start(), c.end()), c.text(), how + ": chunk " + i + " is the text at its offsets");
            assertEquals(c.text().strip(), c.text(), how + ": chunk " + i + " carries no surrounding whitespace");
            assertFalse(Character.isLowSurrogate(text.charAt(c.start())), how + ": chunk " + i + " starts inside a character");
            assertFalse(c.end() < text.length() && Character.isLowSurrogate(text.charAt(c.end())),
                    how + ": chunk " + i + " ends inside a character: " + c.text());
            if (i > 0) {
                assertTrue(c.start() > chunks.get(i - 1).start(), how + ": chunks progress");
            }
            java.util.Arrays.fill(covered, c.start(), c.end(), true);
        }
        for (int at = 0; at < text.length(); at++) {
            if (!covered[at] && !Character.isWhitespace(text.charAt(at))) {
                fail(how + ": U+" + Integer.toHexString(text.charAt(at)).toUpperCase() + " at " + at + " is in no chunk: '"
                        + text.substring(Math.max(0, at - 12), Math.min(text.length(), at + 12)) + "'");
            }
        }
    }

    @Test
    void everyCharacterOfAnyScriptIsKeptInEveryModeAndOverlap() {
        for (Chunker.Format format : Chunker.Format.values()) {
            String text = multilingual(60, format == Chunker.Format.MARKDOWN);
            for (int size : new int[] {8, 13, 40}) {
                for (int overlap = 0; overlap < size / 2; overlap += Math.max(1, size / 6)) {
                    List<Chunker.Chunk> chunks = new Chunker(ChunkerTest::bertLikeSpans, size, overlap).chunk(text, format);
                    assertChunksHoldTheDocumentExactly(text, chunks, format + " in chunks of " + size + " overlapping " + overlap);
                }
            }
        }
    }

    @Test
    void aShortDocumentIsOneChunkEqualToIt() {
        for (String text : List.of("end with emoji 😀", "e\u0301", "\u05E9\u05DC\u05D5\u05DD\u200F", "𠜎 漢字 👍🏽",
                "# Title 🚀\nBody with a mark e\u0301")) {
            for (Chunker.Format format : Chunker.Format.values()) {
                List<Chunker.Chunk> chunks = new Chunker(ChunkerTest::bertLikeSpans, 64, 8).chunk("\n " + text + " \n", format);
                assertEquals(1, chunks.size(), format + ": " + chunks);
                assertEquals(text, chunks.get(0).text(), format.toString());
            }
        }
    }

    @Test
    void rejectsOverlapThatWouldNotProgress() {
        try {
            new Chunker(ChunkerTest::wordSpans, 20, 10);
        } catch (IllegalArgumentException expected) {
            return;
        }
        throw new AssertionError("overlap of half the chunk accepted");
    }
}
