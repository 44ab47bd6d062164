package io.spillway.models.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.spillway.models.testing.SharedData;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class IncrementalDetokenizerTest {

    private static HfTokenizer qwen;

    @BeforeAll
    static void load() {
        qwen = HfTokenizer.load(SharedData.require("tokenizers/qwen3").resolve("tokenizer.json"));
    }

    @AfterAll
    static void close() {
        if (qwen != null) {
            qwen.close();
        }
    }

    private static String stream(String text, boolean skipSpecial, List<String> deltas) {
        int[] prompt = qwen.encode("<|im_start|>assistant\n", false);
        int[] ids = qwen.encode(text, false);
        IncrementalDetokenizer d = new IncrementalDetokenizer(qwen, prompt, skipSpecial);
        StringBuilder out = new StringBuilder();
        for (int id : ids) {
            String delta = d.add(id);
            deltas.add(delta);
            out.append(delta);
        }
        out.append(d.flush());
        return out.toString();
    }

    @Test
    void multiByteCharactersSplitAcrossTokensComeOutWhole() {
        String text = "Grüße 世界 🚀🚀 naïve café — ☃ done";
        List<String> deltas = new java.util.ArrayList<>();
        assertEquals(text, stream(text, true, deltas));
        for (String delta : deltas) {
            assertFalse(delta.contains("\uFFFD"), "a delta never carries half a character: " + delta);
        }
        assertFalse(deltas.stream().allMatch(String::isEmpty));
    }

    @Test
    void specialTokensAreKeptOrSkipped() {
        String text = "hi<|im_end|>\nthere";
        assertEquals(text, stream(text, false, new java.util.ArrayList<>()));
        assertEquals("hi\nthere", stream(text, true, new java.util.ArrayList<>()));
    }

    @Test
    void longOutputsMatchAFullDecode() {
        String text = "The quick brown fox 🦊 jumps over the lazy dog. ".repeat(40);
        assertEquals(text, stream(text, true, new java.util.ArrayList<>()));
    }
}
