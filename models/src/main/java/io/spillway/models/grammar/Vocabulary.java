package io.spillway.models.grammar;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * Every token id of a model as the exact bytes it decodes to. Grammars work on these bytes, so a
 * token may end in the middle of a UTF-8 character or span several grammar symbols. Immutable.
 *
 * <p>Special tokens (every added token of the tokenizer) are never allowed by a grammar, except
 * the end tokens when a document is complete, and a special token whose text a grammar literal
 * spells out at that point. Ids from the tokenizer's size up to the model's vocabulary size have
 * no bytes and are never allowed.
 */
public final class Vocabulary {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern BYTE_PIECE = Pattern.compile("<0x[0-9A-Fa-f]{2}>");

    private final byte[][] bytes;
    private final boolean[] special;
    private final int size;
    private final Set<Integer> endTokens;
    /** Built on first use and then shared by every grammar compiled for this vocabulary. */
    private volatile VocabularyTrie trie;

    private Vocabulary(byte[][] bytes, boolean[] special, int size, Set<Integer> endTokens) {
        this.bytes = bytes;
        this.special = special;
        this.size = size;
        this.endTokens = Set.copyOf(endTokens);
        for (int id : this.endTokens) {
            if (id < 0 || id >= size) {
                throw new IllegalArgumentException("end token " + id + " is outside the vocabulary of " + size);
            }
        }
        if (this.endTokens.isEmpty()) {
            throw new IllegalArgumentException("at least one end token is needed: documents must be able to end");
        }
    }

    /**
     * Reads a Hugging Face tokenizer.json: byte-level BPE (GPT-2's byte-to-unicode characters) or
     * SentencePiece-style pieces ("▁" for a space, {@code <0xNN>} byte fallback).
     *
     * @param modelVocabSize the model's vocabulary size (config.json), at least the tokenizer's
     * @param endTokens      ids that end a sequence (the model's generation config)
     */
    public static Vocabulary fromTokenizerJson(byte[] json, int modelVocabSize, Set<Integer> endTokens) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (IOException e) {
            throw new UncheckedIOException("tokenizer.json does not parse", e);
        }
        JsonNode model = root.path("model");
        String type = model.path("type").asText("BPE");
        List<String> pieces = new ArrayList<>();
        JsonNode vocab = model.path("vocab");
        if (vocab.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                set(pieces, e.getValue().asInt(), e.getKey());
            }
        } else if (vocab.isArray() && "Unigram".equals(type)) {
            for (JsonNode entry : vocab) {
                pieces.add(entry.get(0).asText());
            }
        } else {
            throw new IllegalArgumentException("tokenizer model " + type + " has no vocabulary this reader knows");
        }
        List<Integer> added = new ArrayList<>();
        for (JsonNode a : root.path("added_tokens")) {
            int id = a.path("id").asInt();
            set(pieces, id, a.path("content").asText());
            added.add(id);
        }
        boolean byteLevel = mentions(root.path("decoder"), "ByteLevel") || mentions(root.path("pre_tokenizer"), "ByteLevel");
        String space = metaspaceReplacement(root);
        int n = Math.max(pieces.size(), modelVocabSize);
        byte[][] bytes = new byte[n][];
        boolean[] special = new boolean[n];
        int[] fromUnicode = byteLevel ? ByteLevelAlphabet.decoding() : null;
        for (int id = 0; id < pieces.size(); id++) {
            String piece = pieces.get(id);
            if (piece == null) {
                continue;
            }
            bytes[id] = byteLevel ? ByteLevelAlphabet.decode(piece, fromUnicode) : sentencePiece(piece, space);
        }
        for (int id : added) {
            special[id] = true;
            bytes[id] = pieces.get(id).getBytes(StandardCharsets.UTF_8);
        }
        if (pieces.size() > modelVocabSize) {
            throw new IllegalArgumentException("the tokenizer has " + pieces.size() + " tokens, more than the model's "
                    + modelVocabSize);
        }
        return new Vocabulary(bytes, special, modelVocabSize, endTokens);
    }

    /** A vocabulary from bytes directly; ids in {@code specialIds} are special. */
    public static Vocabulary of(List<byte[]> tokens, Set<Integer> specialIds, int modelVocabSize, Set<Integer> endTokens) {
        if (tokens.size() > modelVocabSize) {
            throw new IllegalArgumentException(tokens.size() + " tokens do not fit a vocabulary of " + modelVocabSize);
        }
        byte[][] bytes = new byte[modelVocabSize][];
        boolean[] special = new boolean[modelVocabSize];
        for (int i = 0; i < tokens.size(); i++) {
            bytes[i] = tokens.get(i) == null ? null : tokens.get(i).clone();
            special[i] = specialIds.contains(i);
        }
        return new Vocabulary(bytes, special, modelVocabSize, endTokens);
    }

    /** The model's vocabulary size: masks have a bit for each id below it. */
    public int size() {
        return size;
    }

    /** The bytes token {@code id} decodes to (a special token's text), or null when it has none. */
    public byte[] bytes(int id) {
        return bytes[id] == null ? null : bytes[id].clone();
    }

    public boolean isSpecial(int id) {
        return special[id];
    }

    public Set<Integer> endTokens() {
        return endTokens;
    }

    VocabularyTrie trie() {
        VocabularyTrie t = trie;
        if (t == null) {
            synchronized (this) {
                t = trie;
                if (t == null) {
                    t = VocabularyTrie.of(this);
                    trie = t;
                }
            }
        }
        return t;
    }

    /** Without copying, for the compiler. */
    byte[] rawBytes(int id) {
        return bytes[id];
    }

    /** Ids a grammar may allow as ordinary text. */
    boolean isText(int id) {
        return bytes[id] != null && bytes[id].length > 0 && !special[id] && !endTokens.contains(id);
    }

    /** Special tokens that a grammar literal may stand for (not the end tokens). */
    int[] literalSpecials() {
        TreeSet<Integer> ids = new TreeSet<>();
        for (int id = 0; id < size; id++) {
            if (special[id] && bytes[id] != null && bytes[id].length > 0 && !endTokens.contains(id)) {
                ids.add(id);
            }
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    int longestToken() {
        int longest = 1;
        for (byte[] b : bytes) {
            if (b != null) {
                longest = Math.max(longest, b.length);
            }
        }
        return longest;
    }

    private static void set(List<String> pieces, int id, String piece) {
        while (pieces.size() <= id) {
            pieces.add(null);
        }
        pieces.set(id, piece);
    }

    private static boolean mentions(JsonNode node, String type) {
        if (node == null || node.isMissingNode() || node.isNull()) {
            return false;
        }
        if (type.equals(node.path("type").asText())) {
            return true;
        }
        for (String list : new String[] {"decoders", "pretokenizers"}) {
            for (JsonNode child : node.path(list)) {
                if (mentions(child, type)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** The character SentencePiece writes for a space: "▁" unless the tokenizer says otherwise. */
    private static String metaspaceReplacement(JsonNode root) {
        for (JsonNode node : new JsonNode[] {root.path("decoder"), root.path("pre_tokenizer")}) {
            List<JsonNode> all = new ArrayList<>(List.of(node));
            node.path("decoders").forEach(all::add);
            node.path("pretokenizers").forEach(all::add);
            for (JsonNode n : all) {
                if ("Metaspace".equals(n.path("type").asText()) && n.has("replacement")) {
                    return n.get("replacement").asText();
                }
                if ("Replace".equals(n.path("type").asText()) && " ".equals(n.path("content").asText())) {
                    return n.path("pattern").path("String").asText("\u2581");
                }
            }
        }
        return "\u2581";
    }

    private static byte[] sentencePiece(String piece, String space) {
        if (BYTE_PIECE.matcher(piece).matches()) {
            return new byte[] {(byte) Integer.parseInt(piece.substring(3, 5), 16)};
        }
        return piece.replace(space, " ").getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
        return "Vocabulary[" + size + " ids, end tokens " + endTokens + "]";
    }
}
