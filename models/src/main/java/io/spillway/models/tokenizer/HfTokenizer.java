package io.spillway.models.tokenizer;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.spillway.models.checkpoint.CheckpointException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalInt;

/**
 * A Hugging Face {@code tokenizer.json} run by the Rust tokenizers library through DJL.
 *
 * <p>DJL truncates to 512 tokens and pads unless told otherwise: both are switched off here, since
 * Spillway checks lengths itself and reports them to the client.
 */
public final class HfTokenizer implements TextTokenizer {

    public static final String FILE = "tokenizer.json";

    private final HuggingFaceTokenizer tokenizer;
    private final int vocabSize;
    private final BitSet special;
    private final Map<String, Integer> addedTokens;

    private HfTokenizer(HuggingFaceTokenizer tokenizer, int vocabSize, BitSet special, Map<String, Integer> addedTokens) {
        this.tokenizer = tokenizer;
        this.vocabSize = vocabSize;
        this.special = special;
        this.addedTokens = addedTokens;
    }

    public static HfTokenizer load(Path tokenizerJson) {
        if (!Files.isRegularFile(tokenizerJson)) {
            throw new CheckpointException("missing " + tokenizerJson);
        }
        Map<String, Integer> added = new HashMap<>();
        BitSet special = new BitSet();
        int vocab = scanVocabulary(tokenizerJson, added, special);
        try {
            HuggingFaceTokenizer t = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(tokenizerJson)
                    .optAddSpecialTokens(false)
                    .optTruncation(false)
                    .optPadding(false)
                    .build();
            return new HfTokenizer(t, vocab, special, Map.copyOf(added));
        } catch (IOException | RuntimeException e) {
            throw new CheckpointException("cannot load tokenizer " + tokenizerJson + ": " + e.getMessage(), e);
        }
    }

    /**
     * Reads the vocabulary size and the added tokens without building a tree of the whole file
     * (a 150k-token tokenizer.json with its merges is over 10 MB).
     */
    private static int scanVocabulary(Path file, Map<String, Integer> added, BitSet special) {
        ObjectMapper mapper = new ObjectMapper();
        int maxId = -1;
        try (JsonParser p = new JsonFactory(mapper).createParser(file.toFile())) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new CheckpointException(file + " is not a JSON object");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                p.nextToken();
                if (field.equals("added_tokens")) {
                    JsonNode tokens = mapper.readTree(p);
                    for (JsonNode t : tokens) {
                        int id = t.path("id").asInt();
                        added.put(t.path("content").asText(), id);
                        if (t.path("special").asBoolean(false)) {
                            special.set(id);
                        }
                        maxId = Math.max(maxId, id);
                    }
                } else if (field.equals("model") && p.currentToken() == JsonToken.START_OBJECT) {
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String modelField = p.currentName();
                        JsonToken value = p.nextToken();
                        if (modelField.equals("vocab") && value == JsonToken.START_OBJECT) {
                            while (p.nextToken() == JsonToken.FIELD_NAME) {
                                p.nextToken();
                                maxId = Math.max(maxId, p.getIntValue());
                            }
                        } else if (modelField.equals("vocab") && value == JsonToken.START_ARRAY) {
                            int n = 0;
                            while (p.nextToken() != JsonToken.END_ARRAY) {
                                p.skipChildren();
                                n++;
                            }
                            maxId = Math.max(maxId, n - 1);
                        } else {
                            p.skipChildren();
                        }
                    }
                } else {
                    p.skipChildren();
                }
            }
        } catch (IOException e) {
            throw new CheckpointException("cannot read " + file + ": " + e.getMessage(), e);
        }
        return maxId + 1;
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        Encoding encoding = tokenizer.encode(text, addSpecialTokens, false);
        long[] ids = encoding.getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = (int) ids[i];
        }
        return out;
    }

    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        long[] longs = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            longs[i] = ids[i];
        }
        return tokenizer.decode(longs, skipSpecialTokens);
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    @Override
    public OptionalInt tokenId(String token) {
        Integer id = addedTokens.get(token);
        if (id != null) {
            return OptionalInt.of(id);
        }
        long[] ids = tokenizer.encode(token, false, false).getIds();
        return ids.length == 1 ? OptionalInt.of((int) ids[0]) : OptionalInt.empty();
    }

    @Override
    public boolean isSpecial(int id) {
        return special.get(id);
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
