package io.spillway.models.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.models.testing.SharedData;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class HfTokenizerTest {

    private static HfTokenizer qwen;
    private static Path dir;

    @BeforeAll
    static void load() {
        dir = SharedData.require("tokenizers/qwen3");
        qwen = HfTokenizer.load(dir.resolve("tokenizer.json"));
    }

    @AfterAll
    static void close() {
        if (qwen != null) {
            qwen.close();
        }
    }

    @Test
    void vocabularyIncludesAddedTokens() {
        assertEquals(151_669, qwen.vocabSize());
        int imEnd = qwen.tokenId("<|im_end|>").orElseThrow();
        assertTrue(qwen.isSpecial(imEnd));
        assertFalse(qwen.isSpecial(qwen.encode("hello", false)[0]));
    }

    @Test
    void roundTripsMultiByteTextAndSpecialTokens() {
        String text = "Grüße, 世界! 🚀 <|im_start|>user\nhi<|im_end|>";
        int[] ids = qwen.encode(text, false);
        assertEquals(text, qwen.decode(ids, false));
        assertFalse(qwen.decode(ids, true).contains("<|im_end|>"), "skipping special tokens drops them");
    }

    @Test
    void longInputsAreNotTruncated() {
        String text = "word ".repeat(3000);
        assertTrue(qwen.encode(text, false).length >= 3000, "DJL would truncate to 512 without optTruncation(false)");
    }

    @Test
    void configCarriesTheChatTemplateAndSpecialTokens() {
        TokenizerConfig config = TokenizerConfig.load(dir);
        assertTrue(config.chatTemplate(null).orElseThrow().contains("<|im_start|>"));
        assertEquals("<|im_end|>", config.specialTokens().get("eos_token"));
    }
}
