package io.spillway.server.rag;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
