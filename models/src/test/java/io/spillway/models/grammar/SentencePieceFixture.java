package io.spillway.models.grammar;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * A small tokenizer.json in the shape of Llama 2's and Mistral's: BPE over SentencePiece pieces,
 * "▁" for a space, 256 {@code <0xNN>} byte-fallback pieces, and Mistral's {@code [TOOL_CALLS]}.
 */
final class SentencePieceFixture {

    static final int UNK = 0;
    static final int BOS = 1;
    static final int EOS = 2;
    static final int BYTE_BASE = 3;
    static final int TOOL_CALLS = 259;
    static final List<String> PIECES = List.of("▁", "▁{\"", "name", "\":", "▁\"", "\",", "▁hello", "▁world", "}", "▁[",
            "▁1", "0", "2", "é", "日本", "▁\"\n");

    private SentencePieceFixture() {
    }

    static int firstPiece() {
        return TOOL_CALLS + 1;
    }

    static byte[] tokenizerJson() {
        ObjectMapper json = new ObjectMapper();
        ObjectNode t = json.createObjectNode();
        t.put("version", "1.0");
        ArrayNode added = t.putArray("added_tokens");
        String[][] specials = {{"0", "<unk>"}, {"1", "<s>"}, {"2", "</s>"}, {String.valueOf(TOOL_CALLS), "[TOOL_CALLS]"}};
        for (String[] s : specials) {
            ObjectNode a = added.addObject();
            a.put("id", Integer.parseInt(s[0]));
            a.put("content", s[1]);
            a.put("special", true);
        }
        t.putNull("normalizer");
        ObjectNode pre = t.putObject("pre_tokenizer");
        pre.put("type", "Metaspace");
        pre.put("replacement", "▁");
        pre.put("prepend_scheme", "first");
        ObjectNode dec = t.putObject("decoder");
        dec.put("type", "Sequence");
        ArrayNode decoders = dec.putArray("decoders");
        ObjectNode replace = decoders.addObject();
        replace.put("type", "Replace");
        replace.putObject("pattern").put("String", "▁");
        replace.put("content", " ");
        decoders.addObject().put("type", "ByteFallback");
        decoders.addObject().put("type", "Fuse");
        ObjectNode strip = decoders.addObject();
        strip.put("type", "Strip");
        strip.put("content", " ");
        strip.put("start", 1);
        strip.put("stop", 0);
        ObjectNode model = t.putObject("model");
        model.put("type", "BPE");
        model.put("byte_fallback", true);
        model.put("unk_token", "<unk>");
        ObjectNode vocab = model.putObject("vocab");
        vocab.put("<unk>", UNK);
        vocab.put("<s>", BOS);
        vocab.put("</s>", EOS);
        for (int b = 0; b < 256; b++) {
            vocab.put(String.format("<0x%02X>", b), BYTE_BASE + b);
        }
        vocab.put("[TOOL_CALLS]", TOOL_CALLS);
        for (int i = 0; i < PIECES.size(); i++) {
            vocab.put(PIECES.get(i), firstPiece() + i);
        }
        model.putArray("merges");
        return t.toString().getBytes(StandardCharsets.UTF_8);
    }
}
