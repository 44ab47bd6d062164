package io.spillway.models.grammar;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.models.testing.SharedData;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.Set;

/** The vocabularies the grammar tests run over: Qwen3's real one, and the demo model's bytes. */
final class TestVocabularies {

    static final int QWEN_END_OF_TEXT = 151643;
    static final int QWEN_IM_END = 151645;
    static final int QWEN_TOOL_CALL = 151657;
    static final int DEMO_END_OF_TEXT = 256;
    static final int DEMO_IM_END = 258;
    /** Larger than the demo tokenizer, as a model's embedding often is. */
    static final int DEMO_MODEL_VOCAB = 320;

    private TestVocabularies() {
    }

    /** Loaded once per test JVM: parsing 151,669 tokens takes a while. */
    private static final class Qwen {
        static final Vocabulary VOCABULARY = load();

        private static Vocabulary load() {
            try {
                byte[] json = Files.readAllBytes(SharedData.require("tokenizers/qwen3/tokenizer.json"));
                return Vocabulary.fromTokenizerJson(json, 151936, Set.of(QWEN_END_OF_TEXT, QWEN_IM_END));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    static Vocabulary qwen() {
        SharedData.require("tokenizers/qwen3/tokenizer.json");
        return Qwen.VOCABULARY;
    }

    static Vocabulary demo() {
        return Vocabulary.fromTokenizerJson(demoTokenizerJson(), DEMO_MODEL_VOCAB, Set.of(DEMO_END_OF_TEXT, DEMO_IM_END));
    }

    /** The tokenizer.json the demo model writes (DemoModel#byteLevelTokenizer): 256 byte tokens, 3 specials. */
    static byte[] demoTokenizerJson() {
        ObjectMapper json = new ObjectMapper();
        ObjectNode t = json.createObjectNode();
        t.put("version", "1.0");
        ArrayNode added = t.putArray("added_tokens");
        String[] specials = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
        for (int i = 0; i < specials.length; i++) {
            ObjectNode a = added.addObject();
            a.put("id", 256 + i);
            a.put("content", specials[i]);
            a.put("special", true);
        }
        t.putObject("pre_tokenizer").put("type", "ByteLevel");
        t.putObject("decoder").put("type", "ByteLevel");
        ObjectNode model = t.putObject("model");
        model.put("type", "BPE");
        ObjectNode vocab = model.putObject("vocab");
        int[] byteToChar = byteToUnicode();
        for (int b = 0; b < 256; b++) {
            vocab.put(new String(Character.toChars(byteToChar[b])), b);
        }
        model.putArray("merges");
        return t.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }

    /** GPT-2's mapping, written out independently of the code under test. */
    static int[] byteToUnicode() {
        int[] map = new int[256];
        int next = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? b : 256 + next++;
        }
        return map;
    }
}
