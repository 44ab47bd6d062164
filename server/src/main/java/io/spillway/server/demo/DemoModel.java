package io.spillway.server.demo;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.models.checkpoint.ConfigJson;
import io.spillway.models.grammar.ByteLevelAlphabet;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The built-in demo model: a small Llama-shaped config served with random weights, a byte-level
 * BPE tokenizer (256 byte tokens, GPT-2's byte-to-unicode mapping, no merges) and a ChatML chat
 * template. It lets {@code spillway serve} start offline with nothing downloaded; its output is
 * noise, and it says so in the log and in {@code /v1/models}.
 */
public final class DemoModel {

    public static final String NAME = "spillway-demo";
    public static final String OWNER = "spillway-demo-random-weights";
    public static final int END_OF_TEXT = 256;
    public static final int IM_END = 258;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String CHATML = "{%- for message in messages %}"
            + "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
            + "{%- endfor %}"
            + "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

    private DemoModel() {
    }

    /** Writes the demo model's files into a new temporary directory and returns it. */
    public static Path write() {
        try {
            Path dir = Files.createTempDirectory("spillway-demo-model");
            writeTo(dir);
            try (var files = Files.list(dir)) {
                files.forEach(f -> f.toFile().deleteOnExit());
            }
            dir.toFile().deleteOnExit();
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the demo model: " + e.getMessage(), e);
        }
    }

    static void writeTo(Path dir) throws IOException {
        ObjectNode config = ConfigJson.llama(256, 768, 4, 8, 4, 384, 2048, true);
        config.putArray("eos_token_id").add(END_OF_TEXT).add(IM_END);
        config.put("torch_dtype", "float32");
        Files.writeString(dir.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config));

        ObjectNode generation = JSON.createObjectNode();
        generation.putArray("eos_token_id").add(END_OF_TEXT).add(IM_END);
        Files.writeString(dir.resolve("generation_config.json"), generation.toString());

        ObjectNode tokenizerConfig = JSON.createObjectNode();
        tokenizerConfig.put("chat_template", CHATML);
        tokenizerConfig.put("eos_token", "<|im_end|>");
        tokenizerConfig.put("pad_token", "<|endoftext|>");
        tokenizerConfig.putNull("bos_token");
        tokenizerConfig.put("model_max_length", 2048);
        Files.writeString(dir.resolve("tokenizer_config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(tokenizerConfig));

        Files.writeString(dir.resolve("tokenizer.json"), byteLevelTokenizer().toString());
    }

    /** A Hugging Face tokenizer.json: byte-level pre-tokenizer and decoder, one token per byte. */
    static ObjectNode byteLevelTokenizer() {
        ObjectNode t = JSON.createObjectNode();
        t.put("version", "1.0");
        t.putNull("truncation");
        t.putNull("padding");
        ArrayNode added = t.putArray("added_tokens");
        String[] specials = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
        for (int i = 0; i < specials.length; i++) {
            ObjectNode a = added.addObject();
            a.put("id", 256 + i);
            a.put("content", specials[i]);
            a.put("single_word", false);
            a.put("lstrip", false);
            a.put("rstrip", false);
            a.put("normalized", false);
            a.put("special", true);
        }
        t.putNull("normalizer");
        ObjectNode pre = t.putObject("pre_tokenizer");
        pre.put("type", "ByteLevel");
        pre.put("add_prefix_space", false);
        pre.put("trim_offsets", true);
        pre.put("use_regex", true);
        t.putNull("post_processor");
        ObjectNode dec = t.putObject("decoder");
        dec.put("type", "ByteLevel");
        dec.put("add_prefix_space", true);
        dec.put("trim_offsets", true);
        dec.put("use_regex", true);
        ObjectNode model = t.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("ignore_merges", false);
        ObjectNode vocab = model.putObject("vocab");
        int[] byteToChar = ByteLevelAlphabet.encoding();
        for (int b = 0; b < 256; b++) {
            vocab.put(new String(Character.toChars(byteToChar[b])), b);
        }
        model.putArray("merges");
        return t;
    }
}
