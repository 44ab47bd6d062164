package io.spillway.server.platform.cache;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import io.spillway.server.embeddings.EmbeddingService;
import io.spillway.vectors.CollectionSpec;
import io.spillway.vectors.Filter;
import io.spillway.vectors.Metric;
import io.spillway.vectors.SearchHit;
import io.spillway.vectors.StorageOptions;
import io.spillway.vectors.VectorCollection;
import io.spillway.vectors.VectorRecord;
import io.spillway.vectors.storage.OwnerOnly;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * Answers a prompt with the stored answer of an earlier, near-identical one: prompts are embedded,
 * their vectors kept in an HNSW collection (cosine), and a new prompt whose nearest earlier prompt
 * in the same partition (tenant, model and every other parameter equal) is at least as similar as
 * the threshold gets that prompt's answer. Answers live in a bounded, expiring Caffeine cache; a
 * vector whose answer is gone is removed from the graph. The collection is a scratch one, kept
 * without fsync in a directory of its own that is emptied at start (a killed process leaves its
 * index behind) and deleted on close.
 */
public final class SemanticCache implements AutoCloseable {

    /** A hit: the stored answer and how similar its prompt was. */
    public record Hit(StoredCompletion body, double similarity) {
    }

    private final EmbeddingService embeddings;
    private final double threshold;
    private final Path dir;
    private final VectorCollection vectors;
    private final Cache<String, StoredCompletion> answers;

    /** {@code dir} belongs to the cache: whatever it holds is deleted. */
    public SemanticCache(EmbeddingService embeddings, double threshold, int maxEntries, Duration ttl, Path dir) {
        this.embeddings = embeddings;
        this.threshold = threshold;
        this.dir = dir;
        try {
            VectorCollection.deleteTree(dir);
            OwnerOnly.createDirectories(dir);
            this.vectors = VectorCollection.create(dir.resolve("prompts"), new CollectionSpec(embeddings.dimension(), Metric.COSINE,
                    CollectionSpec.DEFAULT_M, CollectionSpec.DEFAULT_EF_CONSTRUCTION, CollectionSpec.DEFAULT_EF),
                    new StorageOptions(false, 64L << 20));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the semantic cache's index", e);
        }
        this.answers = Caffeine.newBuilder().maximumSize(maxEntries).expireAfterWrite(ttl)
                .removalListener((String id, StoredCompletion body, RemovalCause cause) -> forget(id))
                .build();
    }

    /** The embedding of a prompt (blocks the calling, request, thread on the embedding service). */
    public float[] embed(String prompt) {
        try {
            return embeddings.embedTexts(List.of(prompt)).get(30, TimeUnit.SECONDS).get(0);
        } catch (Exception e) {
            throw new IllegalStateException("the semantic cache could not embed the prompt: " + e.getMessage(), e);
        }
    }

    public Optional<Hit> lookup(String partition, float[] vector) {
        List<SearchHit> hits = vectors.query(vector, 1, CollectionSpec.DEFAULT_EF, new Filter(List.of(new Filter.Equals("partition", partition))));
        if (hits.isEmpty() || hits.get(0).score() < threshold) {
            return Optional.empty();
        }
        StoredCompletion body = answers.getIfPresent(hits.get(0).id());
        return body == null ? Optional.empty() : Optional.of(new Hit(body, hits.get(0).score()));
    }

    public void store(String partition, float[] vector, StoredCompletion body) {
        String id = UUID.randomUUID().toString();
        try {
            vectors.upsert(List.of(new VectorRecord(id, vector, Map.of("partition", partition))));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        answers.put(id, body);
    }

    private void forget(String id) {
        try {
            vectors.delete(List.of(id));
        } catch (IOException | RuntimeException e) {
            // A closed index during shutdown; nothing to forget then.
        }
    }

    @Override
    public void close() {
        try {
            vectors.close();
            VectorCollection.deleteTree(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
