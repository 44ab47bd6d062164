package io.spillway.server.rag;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.server.api.ChatAugmenter;
import io.spillway.server.api.OpenAiException;
import io.spillway.vectors.Filter;
import io.spillway.vectors.VectorCollection;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToIntFunction;

/**
 * The {@code rag} extension of chat completions:
 * {@code "rag": {"collection": "docs", "top_k": 4, "min_score": 0.2, "filter": {...}}}.
 *
 * <p>The last user message is the query. Passages at or above {@code min_score} are taken best
 * first, each only if the prompt still fits the context budget with it (the model's context
 * minus the completion's reserve), and put in front of the conversation as a system message:
 * <pre>
 * Answer the user's question using the numbered passages below where they are relevant, and
 * cite the passages you use as [1], [2] and so on. If the passages do not contain the answer,
 * say so rather than guessing.
 *
 * [1] (source: handbook, section: Travel > Expenses)
 * passage text
 *
 * [2] ...
 * </pre>
 * An existing leading system message keeps its text, followed by this block. When the model's
 * chat template refuses system messages, the block goes at the start of the last user message
 * instead. The response lists the passages used as {@code sources} (index, id, document_id,
 * score), in the order they were numbered.
 */
public final class ChatRetrieval implements ChatAugmenter {

    static final String INSTRUCTIONS = "Answer the user's question using the numbered passages below where they are relevant, and cite"
            + " the passages you use as [1], [2] and so on. If the passages do not contain the answer, say so rather than guessing.";
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final int MAX_TOP_K = 50;

    private final Collections collections;
    private final VectorCollection collection;
    private final int topK;
    private final double minScore;
    private final Filter filter;

    private ChatRetrieval(Collections collections, VectorCollection collection, int topK, double minScore, Filter filter) {
        this.collections = collections;
        this.collection = collection;
        this.topK = topK;
        this.minScore = minScore;
        this.filter = filter;
    }

    /** Validates the {@code rag} object and finds the owner's collection. */
    public static ChatRetrieval parse(Collections collections, Owner owner, JsonNode rag) {
        if (!rag.isObject()) {
            throw OpenAiException.invalid("'rag' must be an object: {\"collection\": ..., \"top_k\": ..., \"min_score\": ...}.", "rag");
        }
        JsonNode name = rag.get("collection");
        if (name == null || !name.isTextual()) {
            throw OpenAiException.invalid("'rag.collection' must name one of your collections.", "rag.collection");
        }
        int topK = 4;
        if (rag.has("top_k")) {
            JsonNode k = rag.get("top_k");
            if (!k.isIntegralNumber() || k.asInt() < 1 || k.asInt() > MAX_TOP_K) {
                throw OpenAiException.invalid("'rag.top_k' must be an integer in [1, " + MAX_TOP_K + "].", "rag.top_k");
            }
            topK = k.asInt();
        }
        double minScore = Double.NEGATIVE_INFINITY;
        if (rag.has("min_score")) {
            JsonNode s = rag.get("min_score");
            if (!s.isNumber()) {
                throw OpenAiException.invalid("'rag.min_score' must be a number.", "rag.min_score");
            }
            minScore = s.asDouble();
        }
        Filter filter;
        try {
            filter = FilterJson.parse(rag.get("filter"));
        } catch (IllegalArgumentException e) {
            throw OpenAiException.invalid("'rag.filter': " + e.getMessage(), "rag.filter");
        }
        VectorCollection c;
        try {
            c = collections.get(owner, name.asText()).orElseThrow(() -> new OpenAiException(404, "invalid_request_error",
                    "Collection '" + name.asText() + "' does not exist.", "rag.collection", "collection_not_found", 0));
            collections.requireTextCompatible(c);
        } catch (IOException e) {
            throw OpenAiException.internal("Collection storage failed: " + e.getMessage());
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw OpenAiException.invalid(e.getMessage(), "rag.collection");
        }
        return new ChatRetrieval(collections, c, topK, minScore, filter);
    }

    @Override
    public Augmented augment(List<Object> messages, ToIntFunction<List<Object>> promptTokens, int tokenBudget) {
        String query = lastUserText(messages);
        List<Passage> candidates = new ArrayList<>();
        for (Passage p : collections.queryText(collection, query, topK, 0, filter)) {
            if (p.score() >= minScore && p.text() != null) {
                candidates.add(p);
            }
        }
        List<Passage> used = new ArrayList<>();
        boolean asSystem = true;
        for (Passage p : candidates) {
            used.add(p);
            List<Object> trial = withContext(messages, used, asSystem);
            int tokens;
            try {
                tokens = promptTokens.applyAsInt(trial);
            } catch (OpenAiException e) {
                if (!asSystem) {
                    throw e;
                }
                // Templates such as Gemma's raise on a system message: fall back to the user turn.
                asSystem = false;
                tokens = promptTokens.applyAsInt(withContext(messages, used, false));
            }
            if (tokens > tokenBudget) {
                used.remove(used.size() - 1);
            }
        }
        ArrayNode sources = F.arrayNode();
        for (int i = 0; i < used.size(); i++) {
            Passage p = used.get(i);
            ObjectNode s = sources.addObject();
            s.put("index", i + 1);
            s.put("id", p.id());
            if (p.documentId() != null) {
                s.put("document_id", p.documentId());
            }
            s.put("score", p.score());
        }
        return new Augmented(used.isEmpty() ? messages : withContext(messages, used, asSystem), sources);
    }

    private static String lastUserText(List<Object> messages) {
        for (int i = messages.size() - 1; i >= 0; i--) {
            if (messages.get(i) instanceof Map<?, ?> m && "user".equals(m.get("role")) && m.get("content") instanceof String s
                    && !s.isBlank()) {
                return s;
            }
        }
        throw OpenAiException.invalid("Retrieval ('rag') needs a user message with text to search for.", "messages");
    }

    static String contextBlock(List<Passage> passages) {
        StringBuilder sb = new StringBuilder(INSTRUCTIONS);
        for (int i = 0; i < passages.size(); i++) {
            Passage p = passages.get(i);
            sb.append("\n\n[").append(i + 1).append("] (source: ").append(p.documentId() != null ? p.documentId() : p.id());
            if (p.metadata().get(Collections.SECTION) instanceof String section) {
                sb.append(", section: ").append(section);
            }
            sb.append(")\n").append(p.text());
        }
        return sb.toString();
    }

    private static List<Object> withContext(List<Object> messages, List<Passage> passages, boolean asSystem) {
        String block = contextBlock(passages);
        List<Object> out = new ArrayList<>(messages);
        if (asSystem) {
            if (!out.isEmpty() && out.get(0) instanceof Map<?, ?> first && "system".equals(first.get("role"))
                    && first.get("content") instanceof String existing) {
                out.set(0, with(first, existing + "\n\n" + block));
            } else {
                Map<Object, Object> system = new LinkedHashMap<>();
                system.put("role", "system");
                system.put("content", block);
                out.add(0, system);
            }
        } else {
            for (int i = out.size() - 1; i >= 0; i--) {
                if (out.get(i) instanceof Map<?, ?> m && "user".equals(m.get("role")) && m.get("content") instanceof String s) {
                    out.set(i, with(m, block + "\n\n" + s));
                    break;
                }
            }
        }
        return out;
    }

    private static Map<Object, Object> with(Map<?, ?> message, String content) {
        Map<Object, Object> copy = new LinkedHashMap<>(message);
        copy.put("content", content);
        return copy;
    }
}
