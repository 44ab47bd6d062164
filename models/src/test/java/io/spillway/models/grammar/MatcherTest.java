package io.spillway.models.grammar;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class MatcherTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static long[] mask(Matcher m, Vocabulary v) {
        long[] mask = new long[(v.size() + 63) >>> 6];
        m.allowedTokens(mask);
        return mask;
    }

    private static boolean allowed(long[] mask, int token) {
        return (mask[token >>> 6] & (1L << token)) != 0;
    }

    /** Feeds text to a byte vocabulary (the demo model's). */
    private static boolean feed(Matcher m, String text) {
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            if (!m.advance(b & 0xFF)) {
                return false;
            }
        }
        return true;
    }

    /** Any tokenization of the text with tokens of at most maxBytes bytes, longest first. */
    private static List<Integer> tokenize(Vocabulary v, byte[] text, int maxBytes) {
        Map<String, Integer> byBytes = new HashMap<>();
        for (int id = v.size() - 1; id >= 0; id--) {
            byte[] b = v.bytes(id);
            if (b != null && !v.isSpecial(id)) {
                byBytes.put(new String(b, StandardCharsets.ISO_8859_1), id);
            }
        }
        List<Integer> tokens = new ArrayList<>();
        for (int i = 0; i < text.length; ) {
            for (int len = Math.min(maxBytes, text.length - i); ; len--) {
                Integer id = byBytes.get(new String(text, i, len, StandardCharsets.ISO_8859_1));
                if (id != null) {
                    tokens.add(id);
                    i += len;
                    break;
                }
            }
        }
        return tokens;
    }

    @Test
    void tokensSpanSymbolsAndEndMidCharacter() throws Exception {
        Vocabulary v = TestVocabularies.qwen();
        String schema = """
                {"type": "object", "additionalProperties": false, "required": ["name", "tags"],
                 "properties": {"name": {"type": "string", "maxLength": 6}, "tags": {"type": "array",
                 "items": {"enum": ["café", "日本語", "🎉ok"]}, "maxItems": 3}}}""";
        CompiledGrammar g = CompiledGrammar.compile(Grammar.json(JSON.readTree(schema)), v);
        String doc = "{\"name\": \"日本🎉é✓x\", \"tags\": [\"🎉ok\", \"café\",\"日本語\"]}";
        for (int maxBytes : new int[] {1, 2, 3, 16}) {
            List<Integer> tokens = tokenize(v, doc.getBytes(StandardCharsets.UTF_8), maxBytes);
            Matcher m = g.matcher();
            boolean midCharacter = false;
            for (int t : tokens) {
                assertTrue(allowed(mask(m, v), t), "token " + t + " with tokens up to " + maxBytes + " bytes");
                assertTrue(m.advance(t));
                midCharacter |= !Utf8.valid(v.bytes(t));
            }
            assertTrue(m.mustEnd());
            assertTrue(allowed(mask(m, v), TestVocabularies.QWEN_IM_END));
            if (maxBytes <= 2) {
                assertTrue(midCharacter, "some token must end inside a character");
            }
        }
        // Seven characters do not fit maxLength 6, however they are tokenized.
        String tooLong = "{\"name\": \"日本🎉é✓xy";
        Matcher m = g.matcher();
        List<Integer> tokens = tokenize(v, tooLong.getBytes(StandardCharsets.UTF_8), 2);
        boolean refused = false;
        for (int t : tokens) {
            if (!m.advance(t)) {
                refused = true;
                break;
            }
        }
        assertTrue(refused);
    }

    @Test
    void partialCharactersMustContinueAsValidUtf8() {
        Vocabulary v = TestVocabularies.demo();
        CompiledGrammar g = CompiledGrammar.compile(Grammar.anyJson(), v);
        Matcher m = g.matcher();
        assertTrue(feed(m, "\"a"));
        assertTrue(m.advance(0xE6)); // first byte of a three-byte character
        long[] mask = mask(m, v);
        for (int b = 0; b < 256; b++) {
            assertEquals(b >= 0x80 && b <= 0xBF, allowed(mask, b), "byte " + Integer.toHexString(b));
        }
        assertFalse(m.advance('"'));
        assertTrue(m.advance(0x97));
        assertFalse(m.advance(0x41), "a three-byte character needs its third byte");
        assertTrue(m.advance(0xA5));
        assertTrue(feed(m, "\""));
        assertTrue(m.mustEnd());
        // Surrogates and overlong forms are not UTF-8.
        Matcher s = g.matcher();
        assertTrue(feed(s, "\""));
        assertTrue(s.advance(0xED));
        assertFalse(s.advance(0xA0));
        assertFalse(g.matcher().copy().advance(0xC0));
    }

    @Test
    void specialTokensStandForGrammarLiteralsOnly() throws Exception {
        Vocabulary v = TestVocabularies.qwen();
        String params = "{\"type\": \"object\", \"properties\": {\"q\": {\"type\": \"string\", \"maxLength\": 20}}, "
                + "\"required\": [\"q\"], \"additionalProperties\": false}";
        String call = "{\"type\": \"object\", \"properties\": {\"name\": {\"const\": \"search\"}, \"arguments\": " + params
                + "}, \"required\": [\"name\", \"arguments\"], \"additionalProperties\": false}";
        Grammar one = Grammar.sequence(Grammar.literal("<tool_call>\n"), Grammar.json(JSON.readTree(call)),
                Grammar.literal("\n</tool_call>"));
        CompiledGrammar g = CompiledGrammar.compile(Grammar.repeat(one, 1, 3, "\n"), v);
        Matcher m = g.matcher();
        long[] mask = mask(m, v);
        assertTrue(allowed(mask, TestVocabularies.QWEN_TOOL_CALL));
        assertTrue(allowed(mask, tokenize(v, "<".getBytes(StandardCharsets.UTF_8), 1).get(0)), "the spelled-out text too");
        assertFalse(allowed(mask, 151644), "<|im_start|> is no literal here");
        assertFalse(allowed(mask, 151658), "</tool_call> does not come first");
        assertTrue(m.advance(TestVocabularies.QWEN_TOOL_CALL));
        assertFalse(m.copy().advance(TestVocabularies.QWEN_TOOL_CALL));
        for (int t : tokenize(v, "\n{\"name\": \"search\", \"arguments\": {\"q\": \"".getBytes(StandardCharsets.UTF_8), 16)) {
            assertTrue(m.advance(t));
        }
        // Inside a JSON string the text "<tool_call>" may be written, but not as the special token.
        assertFalse(allowed(mask(m, v), TestVocabularies.QWEN_TOOL_CALL));
        assertTrue(m.copy().advance(tokenize(v, "<tool".getBytes(StandardCharsets.UTF_8), 16).get(0)));
        for (int t : tokenize(v, "x\"}}\n".getBytes(StandardCharsets.UTF_8), 16)) {
            assertTrue(m.advance(t));
        }
        assertTrue(m.advance(151658)); // </tool_call>
        assertTrue(m.complete());
        assertFalse(m.mustEnd(), "up to three calls");
        Walker.Document d = Walker.sample(g, Walker.SPECIAL, 5, 2000);
        assertTrue(d.tokens().contains(TestVocabularies.QWEN_TOOL_CALL));
        assertTrue(d.tokens().contains(151658));
    }

    @Test
    void mistralToolCallsSpecialTokenOverSentencePiece() throws Exception {
        Vocabulary v = Vocabulary.fromTokenizerJson(SentencePieceFixture.tokenizerJson(), 300, Set.of(SentencePieceFixture.EOS));
        String schema = "{\"type\": \"array\", \"minItems\": 1, \"maxItems\": 2, \"items\": {\"type\": \"object\", "
                + "\"properties\": {\"name\": {\"enum\": [\"hello\", \"日本\"]}}, \"required\": [\"name\"], \"additionalProperties\": false}}";
        CompiledGrammar g = CompiledGrammar.compile(
                Grammar.sequence(Grammar.literal("[TOOL_CALLS]"), Grammar.json(JSON.readTree(schema))), v);
        Matcher m = g.matcher();
        assertTrue(allowed(mask(m, v), SentencePieceFixture.TOOL_CALLS));
        assertFalse(allowed(mask(m, v), SentencePieceFixture.BOS));
        for (Walker.Chooser model : List.of(Walker.RANDOM, Walker.SPECIAL, Walker.LONGEST, Walker.WHITESPACE)) {
            for (long seed = 0; seed < 3; seed++) {
                Walker.Document d = Walker.sample(g, model, seed, 500);
                String text = d.text();
                assertTrue(text.startsWith("[TOOL_CALLS]"), text);
                JsonSchemaGrammarTest.assertValid(schema, new Walker.Document(
                        text.substring("[TOOL_CALLS]".length()).getBytes(StandardCharsets.UTF_8), d.tokens()));
            }
        }
    }

    @Test
    void textUntilEndsAtItsTerminatorAndWithinItsBudget() throws Exception {
        Vocabulary v = TestVocabularies.demo();
        CompiledGrammar g = CompiledGrammar.compile(Grammar.sequence(Grammar.textUntil("</think>", 10),
                Grammar.literal("\n"), Grammar.json(JSON.createObjectNode().put("type", "boolean"))), v);
        Matcher m = g.matcher();
        assertTrue(feed(m, "a</b</thin<"));
        assertTrue(feed(m.copy(), "/think>\ntrue"), "the terminator may follow any text");
        Matcher full = g.matcher();
        assertTrue(feed(full, "0123456789"));
        long[] mask = mask(full, v);
        assertEquals(List.of((int) '<'), Walker.allowed(mask), "the budget is spent: only the terminator");
        assertTrue(feed(full, "</think>\nfalse"));
        assertTrue(full.mustEnd());
        Matcher after = g.matcher();
        assertTrue(feed(after, "x</think>"));
        assertFalse(after.copy().advance('y'), "text ends at the terminator's first occurrence");
        // Qwen's </think> is an added token: it may stand for the terminator.
        Vocabulary q = TestVocabularies.qwen();
        CompiledGrammar think = CompiledGrammar.compile(Grammar.sequence(Grammar.literal("<think>"),
                Grammar.textUntil("</think>", 200), Grammar.literal("\n\n"), Grammar.json(JSON.readTree(
                "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"boolean\"}}, \"required\": [\"a\"]}"))), q);
        Matcher t = think.matcher();
        assertTrue(allowed(mask(t, q), 151667));
        assertTrue(t.advance(151667));
        assertTrue(allowed(mask(t, q), 151668));
        for (Walker.Chooser model : List.of(Walker.LONGEST, Walker.WHITESPACE, Walker.SPECIAL)) {
            Walker.Document d = Walker.sample(think, (a, voc, r) -> a.contains(151668) && r.nextInt(50) == 0 ? 151668
                    : model == Walker.LONGEST ? model.choose(a, voc, r) : r.nextBoolean() ? Walker.RANDOM.choose(a, voc, r)
                    : model.choose(a, voc, r), 3, 3000);
            assertTrue(d.text().startsWith("<think>") && d.text().contains("</think>\n\n{"), d.text());
        }
    }

    @Test
    void repeatWithSeparatorsAndWhitespace() {
        Vocabulary v = TestVocabularies.demo();
        CompiledGrammar g = CompiledGrammar.compile(Grammar.sequence(Grammar.whitespace(2),
                Grammar.repeat(Grammar.oneOf(Grammar.literal("ab"), Grammar.literal("c")), 2, 3, ", ")), v);
        Matcher m = g.matcher();
        assertTrue(feed(m, "  ab"));
        assertFalse(m.copy().advance(' '), "at most two spaces, then a separator");
        assertFalse(m.complete());
        assertTrue(feed(m, ", c"));
        assertTrue(m.complete());
        assertFalse(m.mustEnd());
        assertTrue(feed(m, ", ab"));
        assertTrue(m.mustEnd());
        assertEquals(List.of(256, 258), Walker.allowed(mask(m, v)));
        assertFalse(m.advance(','));
        Matcher spaces = g.matcher();
        assertTrue(feed(spaces, "  "));
        assertFalse(spaces.advance(' '));
    }

    @Test
    void copiesAreIndependent() {
        Vocabulary v = TestVocabularies.demo();
        CompiledGrammar g = CompiledGrammar.compile(Grammar.anyJson(), v);
        Matcher a = g.matcher();
        assertTrue(feed(a, "[1"));
        Matcher b = a.copy();
        assertTrue(feed(a, "]"));
        assertTrue(a.mustEnd());
        assertFalse(b.complete());
        assertTrue(feed(b, ",2]"));
        assertTrue(b.mustEnd());
        assertTrue(a.advance(256));
        assertFalse(b.copy().advance('x'));
        assertTrue(b.advance(258));
    }

    @Test
    void refusedTokensLeaveTheMatcherUnchangedAndMasksAgreeWithAdvance() throws Exception {
        Vocabulary v = TestVocabularies.qwen();
        List<Grammar> grammars = List.of(Grammar.anyJson(),
                Grammar.json(JSON.readTree(Schemas.bounded().get("recursive tree"))),
                Grammar.json(JSON.readTree(Schemas.NESTED)));
        Random random = new Random(42);
        for (Grammar grammar : grammars) {
            CompiledGrammar g = CompiledGrammar.compile(grammar, v);
            for (long seed = 0; seed < 2; seed++) {
                Walker.Document d = Walker.sample(g, Walker.RANDOM, seed, 3000);
                Matcher m = g.matcher();
                for (int token : d.tokens()) {
                    long[] mask = mask(m, v);
                    for (int k = 0; k < 300; k++) {
                        int probe = random.nextInt(v.size());
                        assertEquals(allowed(mask, probe), m.copy().advance(probe), "token " + probe);
                        if (!allowed(mask, probe)) {
                            assertFalse(m.advance(probe));
                            assertArrayEquals(mask, mask(m, v), "a refused token changes nothing");
                        }
                    }
                    assertTrue(m.advance(token));
                }
            }
        }
    }

    @Test
    void oneCompiledGrammarServesConcurrentSequencesDeterministically() throws Exception {
        Vocabulary v = TestVocabularies.qwen();
        Grammar grammar = Grammar.json(JSON.readTree(Schemas.NESTED));
        CompiledGrammar alone = CompiledGrammar.compile(grammar, v);
        List<String> expected = new ArrayList<>();
        for (long seed = 0; seed < 4; seed++) {
            expected.add(Walker.sample(alone, Walker.RANDOM, seed, 3000).text());
        }
        CompiledGrammar shared = CompiledGrammar.compile(grammar, v);
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(4);
        try {
            List<java.util.concurrent.Future<String>> futures = new ArrayList<>();
            for (long seed = 0; seed < 4; seed++) {
                long s = seed;
                futures.add(pool.submit(() -> Walker.sample(shared, Walker.RANDOM, s, 3000).text()));
            }
            for (int i = 0; i < 4; i++) {
                assertEquals(expected.get(i), futures.get(i).get());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void grammarsAreValuesThatCanKeyACache() throws Exception {
        var schema = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree("{\"type\": \"boolean\"}");
        Grammar a = Grammar.json(schema);
        schema.put("type", "null");
        assertEquals(Grammar.json(JSON.readTree("{\"type\": \"boolean\"}")), a, "the grammar kept its own copy");
        ((com.fasterxml.jackson.databind.node.ObjectNode) ((Grammar.Json) a).schema()).put("type", "null");
        assertEquals("boolean", ((Grammar.Json) a).schema().get("type").asText());
        assertEquals(Grammar.sequence(Grammar.literal("x"), Grammar.anyJson()), Grammar.sequence(Grammar.literal("x"), Grammar.anyJson()));
    }

    @Test
    void idsPastTheTokenizerAndWrongMasksAreRefused() {
        Vocabulary v = TestVocabularies.demo();
        CompiledGrammar g = CompiledGrammar.compile(Grammar.anyJson(), v);
        Matcher m = g.matcher();
        long[] mask = mask(m, v);
        for (int id = 259; id < v.size(); id++) {
            assertFalse(allowed(mask, id));
            assertFalse(m.advance(id));
        }
        assertFalse(m.advance(-1));
        assertFalse(m.advance(v.size()));
        assertFalse(m.advance(256), "no end before the document is complete");
        assertThrows(IllegalArgumentException.class, () -> m.allowedTokens(new long[4]));
        assertEquals(5, mask.length);
        assertTrue(Arrays.stream(mask).anyMatch(w -> w != 0));
    }
}
