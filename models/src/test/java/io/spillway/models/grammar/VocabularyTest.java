package io.spillway.models.grammar;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Set;
import org.junit.jupiter.api.Test;

class VocabularyTest {

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void theByteAlphabetIsGpt2s() {
        assertArrayEquals(TestVocabularies.byteToUnicode(), ByteLevelAlphabet.encoding(), "checked against an independent copy");
    }

    @Test
    void qwenByteLevelTokensDecodeToTheirBytes() {
        Vocabulary v = TestVocabularies.qwen();
        assertEquals(151936, v.size());
        assertArrayEquals(utf8("\""), v.bytes(1));
        assertArrayEquals(utf8("ab"), v.bytes(370));
        assertArrayEquals(utf8("<tool_call>"), v.bytes(TestVocabularies.QWEN_TOOL_CALL));
        assertTrue(v.isSpecial(TestVocabularies.QWEN_TOOL_CALL));
        assertTrue(v.isSpecial(TestVocabularies.QWEN_IM_END));
        assertTrue(v.isSpecial(151667), "<think> is an added token, so special here");
        assertFalse(v.isSpecial(370));
        assertNull(v.bytes(151700), "ids past the tokenizer have no bytes");
        int incomplete = 0;
        for (int id = 0; id < 151643; id++) {
            if (!Utf8.valid(v.bytes(id))) {
                incomplete++;
            }
        }
        assertTrue(incomplete > 1000, "byte-level BPE has tokens that end mid-character: " + incomplete);
    }

    @Test
    void demoVocabularyIsOneTokenPerByte() {
        Vocabulary v = TestVocabularies.demo();
        for (int b = 0; b < 256; b++) {
            assertArrayEquals(new byte[] {(byte) b}, v.bytes(b));
            assertFalse(v.isSpecial(b));
        }
        assertArrayEquals(utf8("<|im_end|>"), v.bytes(258));
        assertTrue(v.isSpecial(258));
        assertEquals(Set.of(256, 258), v.endTokens());
        assertNull(v.bytes(300));
    }

    @Test
    void sentencePieceUsesSpacesForMetaspaceAndBytesForFallbackPieces() {
        Vocabulary v = Vocabulary.fromTokenizerJson(SentencePieceFixture.tokenizerJson(), 300, Set.of(SentencePieceFixture.EOS));
        assertArrayEquals(new byte[] {0x0A}, v.bytes(SentencePieceFixture.BYTE_BASE + 0x0A));
        assertArrayEquals(new byte[] {(byte) 0xE6}, v.bytes(SentencePieceFixture.BYTE_BASE + 0xE6));
        int hello = SentencePieceFixture.firstPiece() + SentencePieceFixture.PIECES.indexOf("▁hello");
        assertArrayEquals(utf8(" hello"), v.bytes(hello));
        assertArrayEquals(utf8(" {\""), v.bytes(SentencePieceFixture.firstPiece() + 1));
        assertTrue(v.isSpecial(SentencePieceFixture.TOOL_CALLS));
        assertArrayEquals(utf8("[TOOL_CALLS]"), v.bytes(SentencePieceFixture.TOOL_CALLS));
        assertTrue(v.isSpecial(SentencePieceFixture.BOS));
    }

    @Test
    void unigramVocabulariesAreListsOfPieces() {
        String json = """
                {"added_tokens": [{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "</s>", "special": true}],
                 "pre_tokenizer": {"type": "Metaspace", "replacement": "▁"}, "decoder": {"type": "Metaspace", "replacement": "▁"},
                 "model": {"type": "Unigram", "unk_id": 0, "byte_fallback": true,
                           "vocab": [["<unk>", 0.0], ["</s>", 0.0], ["▁yes", -1.5], ["<0x7B>", -9.0], ["no▁", -2.0]]}}
                """;
        Vocabulary v = Vocabulary.fromTokenizerJson(json.getBytes(StandardCharsets.UTF_8), 8, Set.of(1));
        assertArrayEquals(utf8(" yes"), v.bytes(2));
        assertArrayEquals(utf8("{"), v.bytes(3));
        assertArrayEquals(utf8("no "), v.bytes(4));
        assertTrue(v.isSpecial(0));
        CompiledGrammar g = CompiledGrammar.compile(Grammar.sequence(Grammar.literal(" yes"), Grammar.literal("{")), v);
        Matcher m = g.matcher();
        assertTrue(m.advance(2));
        assertFalse(m.copy().advance(4));
        assertTrue(m.advance(3));
        assertTrue(m.mustEnd());
    }

    @Test
    void refusesEndTokensOutsideTheVocabularyAndTooSmallModels() {
        byte[] json = TestVocabularies.demoTokenizerJson();
        assertThrows(IllegalArgumentException.class, () -> Vocabulary.fromTokenizerJson(json, 320, Set.of(400)));
        assertThrows(IllegalArgumentException.class, () -> Vocabulary.fromTokenizerJson(json, 100, Set.of(1)));
        assertThrows(IllegalArgumentException.class, () -> Vocabulary.fromTokenizerJson(json, 320, Set.of()));
    }
}
