package io.spillway.server.platform.cache;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import io.spillway.server.embeddings.EmbeddingService;
import io.spillway.server.store.SharedCatalog;
import io.spillway.server.store.SharedCollection;
import io.spillway.server.store.StoredCollection;
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
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Answers a prompt with the stored answer of an earlier, near-identical one: prompts are embedded,
 * their vectors kept in an HNSW collection (cosine), and a new prompt whose nearest earlier prompt
 * in the same partition (tenant, model and every other parameter equal) is at least as similar as
 * the threshold gets that prompt's answer.
 *
 * <p>Per replica ({@link #local}): answers live in a bounded, expiring Caffeine cache; a vector whose
 * answer is gone is removed from the graph. The collection is a scratch one, kept without fsync in a
 * directory of its own that is emptied at start (a killed process leaves its index behind) and
 * deleted on close.
 *
 * <p>Shared ({@link #shared}): entries are records of a collection in the shared store (its owner a
 * name no API key can have), each with its answer as text and an expiry, so every replica's index
 * follows every replica's entries and a paraphrase hit does not depend on the pod. Expired entries
 * are never answered, and are swept (with those beyond the bound, oldest first) by every replica
 * periodically.
 */
public final class SemanticCache implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(SemanticCache.class);
    /** The shared store's owner of the cache's collection: API owners are "anonymous" or "key-<hex>". */
    public static final String SHARED_OWNER = "spillway:semantic-cache";
    private static final String PARTITION = "partition";
    private static final String EXPIRES = "expires_at";

    /** A hit: the stored answer and how similar its prompt was. */
    public record Hit(StoredCompletion body, double similarity) {
    }

    /** Where entries live. */
    private interface Entries extends AutoCloseable {
        Optional<Hit> lookup(String partition, float[] vector);

        void store(String partition, float[] vector, StoredCompletion body);

        int size();

        @Override
        void close();
    }

    private final EmbeddingService embeddings;
    private final Entries entries;

    private SemanticCache(EmbeddingService embeddings, Entries entries) {
        this.embeddings = embeddings;
        this.entries = entries;
    }

    /** A cache of this process only. {@code dir} belongs to the cache: whatever it holds is deleted. */
    public static SemanticCache local(EmbeddingService embeddings, double threshold, int maxEntries, Duration ttl, Path dir) {
        return new SemanticCache(embeddings, new LocalEntries(embeddings.dimension(), threshold, maxEntries, ttl, dir));
    }

    /** A cache shared by every replica on the same database, through the shared store. */
    public static SemanticCache shared(EmbeddingService embeddings, double threshold, int maxEntries, Duration ttl, SharedCatalog catalog,
                                       Clock clock) {
        return new SemanticCache(embeddings, new SharedEntries(embeddings, threshold, maxEntries, ttl, catalog, clock));
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
        return entries.lookup(partition, vector);
    }

    public void store(String partition, float[] vector, StoredCompletion body) {
        entries.store(partition, vector, body);
    }

    /** Entries this replica can answer from. */
    public int size() {
        return entries.size();
    }

    @Override
    public void close() {
        entries.close();
    }

    private static Filter partition(String partition) {
        return new Filter(List.of(new Filter.Equals(PARTITION, partition)));
    }

    private static final class LocalEntries implements Entries {
        private final double threshold;
        private final Path dir;
        private final VectorCollection vectors;
        private final Cache<String, StoredCompletion> answers;

        LocalEntries(int dimension, double threshold, int maxEntries, Duration ttl, Path dir) {
            this.threshold = threshold;
            this.dir = dir;
            try {
                VectorCollection.deleteTree(dir);
                OwnerOnly.createDirectories(dir);
                this.vectors = VectorCollection.create(dir.resolve("prompts"), CollectionSpec.of(dimension, Metric.COSINE),
                        new StorageOptions(false, 64L << 20));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot create the semantic cache's index", e);
            }
            this.answers = Caffeine.newBuilder().maximumSize(maxEntries).expireAfterWrite(ttl)
                    .removalListener((String id, StoredCompletion body, RemovalCause cause) -> forget(id))
                    .build();
        }

        @Override
        public Optional<Hit> lookup(String partition, float[] vector) {
            List<SearchHit> hits = vectors.query(vector, 1, CollectionSpec.DEFAULT_EF, partition(partition));
            if (hits.isEmpty() || hits.get(0).score() < threshold) {
                return Optional.empty();
            }
            StoredCompletion body = answers.getIfPresent(hits.get(0).id());
            return body == null ? Optional.empty() : Optional.of(new Hit(body, hits.get(0).score()));
        }

        @Override
        public void store(String partition, float[] vector, StoredCompletion body) {
            String id = UUID.randomUUID().toString();
            try {
                vectors.upsert(List.of(new VectorRecord(id, vector, Map.of(PARTITION, partition))));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            answers.put(id, body);
        }

        @Override
        public int size() {
            return vectors.size();
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

    private static final class SharedEntries implements Entries {
        private final double threshold;
        private final int maxEntries;
        private final Duration ttl;
        private final Clock clock;
        private final SharedCollection prompts;
        /** Answers decoded once per replica: the index holds their text. */
        private final Cache<String, StoredCompletion> decoded = Caffeine.newBuilder().maximumSize(10_000).build();
        private final Thread sweeper;
        private volatile boolean closed;

        SharedEntries(EmbeddingService embeddings, double threshold, int maxEntries, Duration ttl, SharedCatalog catalog, Clock clock) {
            this.threshold = threshold;
            this.maxEntries = maxEntries;
            this.ttl = ttl;
            this.clock = clock;
            // One collection per embedding model: vectors of different models are not comparable.
            String name = ("prompts-" + embeddings.name()).replaceAll("[^A-Za-z0-9_.-]", "-");
            name = name.length() > 64 ? name.substring(0, 64) : name;
            try {
                Optional<StoredCollection> existing = catalog.get(SHARED_OWNER, name);
                StoredCollection c;
                if (existing.isPresent()) {
                    c = existing.get();
                } else {
                    try {
                        c = catalog.create(SHARED_OWNER, name, CollectionSpec.of(embeddings.dimension(), Metric.COSINE));
                    } catch (IllegalStateException raced) {
                        c = catalog.get(SHARED_OWNER, name).orElseThrow(() -> raced);
                    }
                }
                this.prompts = (SharedCollection) c;
            } catch (IOException e) {
                throw new UncheckedIOException("cannot open the shared semantic cache", e);
            }
            Duration every = Duration.ofMillis(Math.max(1000, Math.min(60_000, ttl.toMillis() / 4)));
            this.sweeper = Thread.ofVirtual().name("semantic-cache-sweeper").start(() -> sweep(every));
        }

        @Override
        public Optional<Hit> lookup(String partition, float[] vector) {
            long now = clock.millis();
            // A few candidates: the nearest may have expired and not been swept yet.
            for (SearchHit h : prompts.query(vector, 4, CollectionSpec.DEFAULT_EF, partition(partition))) {
                if (h.score() < threshold) {
                    return Optional.empty();
                }
                if (h.metadata().get(EXPIRES) instanceof Long expires && expires <= now) {
                    continue;
                }
                if (h.metadata().get(io.spillway.server.store.Rows.TEXT) instanceof String text) {
                    return Optional.of(new Hit(decoded.get(h.id(), id -> StoredCompletionJson.read(text)), h.score()));
                }
            }
            return Optional.empty();
        }

        @Override
        public void store(String partition, float[] vector, StoredCompletion body) {
            long expires = clock.millis() + ttl.toMillis();
            Map<String, Object> meta = new LinkedHashMap<>();
            meta.put(PARTITION, partition);
            meta.put(EXPIRES, expires);
            meta.put(io.spillway.server.store.Rows.TEXT, StoredCompletionJson.write(body));
            try {
                prompts.upsert(List.of(new VectorRecord(UUID.randomUUID().toString(), vector, meta)), OptionalLong.of(expires));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        public int size() {
            return prompts.size();
        }

        private void sweep(Duration every) {
            while (!closed) {
                try {
                    Thread.sleep(every);
                    int expired = prompts.deleteExpired(clock.millis());
                    int over = prompts.size() > maxEntries ? prompts.trimTo(maxEntries) : 0;
                    if (expired + over > 0) {
                        LOG.debug("semantic cache: swept {} expired and {} surplus entries", expired, over);
                    }
                } catch (InterruptedException e) {
                    return;
                } catch (IOException | RuntimeException e) {
                    if (!closed) {
                        LOG.warn("semantic cache: sweeping the shared entries failed ({}); expired ones are still never answered", e.toString());
                    }
                }
            }
        }

        @Override
        public void close() {
            // The collection belongs to the shared catalog, which closes it.
            closed = true;
            sweeper.interrupt();
        }
    }
}
