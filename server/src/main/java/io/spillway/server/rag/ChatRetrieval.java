package io.spillway.server.rag;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import io.spillway.server.wire.Message;
import io.spillway.server.wire.OpenAiException;
import io.spillway.server.wire.Retrieval;
import io.spillway.server.wire.Role;
import io.spillway.server.wire.Source;
import io.spillway.vectors.Filter;
import io.spillway.server.store.NoSuchCollectionException;
import io.spillway.server.store.StoreUnavailableException;
import io.spillway.server.store.StoredCollection;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
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
public final class ChatRetrieval {

    static final String INSTRUCTIONS = "Answer the user's question using the numbered passages below where they are relevant, and cite"
            + " the passages you use as [1], [2] and so on. If the passages do not contain the answer, say so rather than guessing.";

    /** The conversation with the passages in it, and the passages as the response reports them. */
    public record Augmented(List<Message> messages, List<Source> sources) {
    }

    private final Collections collections;
    private final StoredCollection collection;
    private final Retrieval request;
    private final Filter filter;

    private ChatRetrieval(Collections collections, StoredCollection collection, Retrieval request, Filter filter) {
        this.collections = collections;
        this.collection = collection;
        this.request = request;
        this.filter = filter;
    }

    /**
     * Finds the owner's collection, checks the filter against it, and waits (bounded) until this
     * replica has applied the write {@code min_seq} names.
     */
    public static ChatRetrieval open(Collections collections, Owner owner, Retrieval request) {
        Filter filter;
        try {
            filter = FilterJson.parse(request.filter().orElse(null));
        } catch (IllegalArgumentException e) {
            throw OpenAiException.invalid("'rag.filter': " + e.getMessage(), "rag.filter");
        }
        StoredCollection c;
        try {
            c = collections.get(owner, request.collection()).orElseThrow(() -> new NoSuchCollectionException(request.collection()));
            collections.requireTextCompatible(c);
            collections.requireApplied(c, request.minSeq(), "rag.min_seq");
        } catch (NoSuchCollectionException e) {
            throw new OpenAiException(404, "invalid_request_error", e.getMessage(), "rag.collection", "collection_not_found", 0);
        } catch (StoreUnavailableException e) {
            throw new OpenAiException(503, "server_error", e.getMessage() + " Retry shortly.", "rag.collection", "store_unavailable", 2);
        } catch (IOException e) {
            throw OpenAiException.internal("Collection storage failed: " + e.getMessage());
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw OpenAiException.invalid(e.getMessage(), "rag.collection");
        }
        return new ChatRetrieval(collections, c, request, filter);
    }

    /**
     * @param messages     the conversation
     * @param promptTokens renders a conversation with the model's template and counts its tokens
     * @param tokenBudget  the most prompt tokens the result may take
     */
    public Augmented augment(List<Message> messages, ToIntFunction<List<Message>> promptTokens, int tokenBudget) {
        String query = lastUserText(messages);
        List<Passage> candidates = new ArrayList<>();
        for (Passage p : collections.queryText(collection, query, request.topK(), 0, filter)) {
            if (p.score() >= request.minScore() && p.text() != null) {
                candidates.add(p);
            }
        }
        List<Passage> used = new ArrayList<>();
        boolean asSystem = true;
        for (Passage p : candidates) {
            used.add(p);
            int tokens;
            try {
                tokens = promptTokens.applyAsInt(withContext(messages, used, asSystem));
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
        List<Source> sources = new ArrayList<>();
        for (int i = 0; i < used.size(); i++) {
            Passage p = used.get(i);
            sources.add(new Source(i + 1, p.id(), Optional.ofNullable(p.documentId()), p.score()));
        }
        return new Augmented(used.isEmpty() ? messages : withContext(messages, used, asSystem), sources);
    }

    private static String lastUserText(List<Message> messages) {
        for (int i = messages.size() - 1; i >= 0; i--) {
            Message m = messages.get(i);
            if (m.role() == Role.USER && !m.content().isBlank()) {
                return m.content();
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

    private static List<Message> withContext(List<Message> messages, List<Passage> passages, boolean asSystem) {
        String block = contextBlock(passages);
        List<Message> out = new ArrayList<>(messages);
        if (asSystem) {
            if (!out.isEmpty() && out.get(0).role() == Role.SYSTEM) {
                out.set(0, out.get(0).withContent(out.get(0).content() + "\n\n" + block));
            } else {
                out.add(0, new Message(Role.SYSTEM, block, JsonNodeFactory.instance.objectNode()));
            }
        } else {
            for (int i = out.size() - 1; i >= 0; i--) {
                if (out.get(i).role() == Role.USER) {
                    out.set(i, out.get(i).withContent(block + "\n\n" + out.get(i).content()));
                    break;
                }
            }
        }
        return out;
    }
}
