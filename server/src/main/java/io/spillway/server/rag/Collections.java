package io.spillway.server.rag;

import io.spillway.server.embeddings.EmbeddingService;
import io.spillway.vectors.CollectionSpec;
import io.spillway.vectors.CollectionStore;
import io.spillway.vectors.Filter;
import io.spillway.vectors.SearchHit;
import io.spillway.vectors.StorageOptions;
import io.spillway.vectors.VectorCollection;
import io.spillway.vectors.VectorRecord;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Retrieval collections, each owned by one API key: documents are chunked, embedded and indexed;
 * raw vectors go straight in; queries take text or a vector. One directory per owner, so one
 * owner's names never collide with, or reveal, another's.
 */
public final class Collections implements AutoCloseable {

    /** Metadata fields Spillway sets on document chunks; user metadata cannot override them. */
    public static final String TEXT = "text";
    public static final String DOCUMENT_ID = "document_id";
    public static final String CHUNK_INDEX = "chunk_index";
    public static final String SECTION = "section";
    private static final List<String> RESERVED = List.of(TEXT, DOCUMENT_ID, CHUNK_INDEX, SECTION);

    /** A document to add. */
    public record Document(String id, String text, Chunker.Format format, Map<String, Object> metadata) {
    }

    /** What adding one document produced. */
    public record AddedDocument(String documentId, List<String> chunkIds, int tokens) {
    }

    private final Path root;
    private final StorageOptions storage;
    private final Optional<EmbeddingService> embeddings;
    private final int defaultChunkTokens;
    private final int defaultOverlapTokens;
    private final Map<Owner, CollectionStore> stores = new ConcurrentHashMap<>();

    public Collections(Path root, StorageOptions storage, Optional<EmbeddingService> embeddings, int chunkTokens, int overlapTokens) {
        this.root = root;
        this.storage = storage;
        this.embeddings = embeddings;
        this.defaultChunkTokens = chunkTokens;
        this.defaultOverlapTokens = overlapTokens;
    }

    public Optional<EmbeddingService> embeddings() {
        return embeddings;
    }

    private CollectionStore store(Owner owner) {
        return stores.computeIfAbsent(owner, o -> new CollectionStore(root.resolve(o.id()), storage));
    }

    public VectorCollection create(Owner owner, String name, CollectionSpec spec) throws IOException {
        return store(owner).create(name, spec);
    }

    /** A collection of this owner; empty when it does not exist or belongs to someone else. */
    public Optional<VectorCollection> get(Owner owner, String name) throws IOException {
        return store(owner).get(name);
    }

    public List<String> names(Owner owner) throws IOException {
        return store(owner).names();
    }

    public boolean drop(Owner owner, String name) throws IOException {
        return store(owner).drop(name);
    }

    public EmbeddingService requireEmbeddings() {
        return embeddings.orElseThrow(() -> new IllegalStateException(
                "no embedding model is configured (embeddings.model is none): only raw vectors can be added and queried"));
    }

    /** Checks that text can go into this collection: its dimension must match the embedding model's. */
    public void requireTextCompatible(VectorCollection c) {
        EmbeddingService e = requireEmbeddings();
        if (c.spec().dimension() != e.dimension()) {
            throw new IllegalArgumentException("this collection holds " + c.spec().dimension() + "-dimensional vectors but the embedding model "
                    + e.name() + " produces " + e.dimension() + ": add and query it with vectors, not text");
        }
    }

    /**
     * Chunks, embeds and indexes documents. Re-adding a document id replaces its old chunks.
     * {@code chunkTokens} and {@code overlapTokens} of 0 take the configured defaults.
     */
    public List<AddedDocument> addDocuments(VectorCollection c, List<Document> documents, int chunkTokens, int overlapTokens)
            throws IOException {
        requireTextCompatible(c);
        EmbeddingService e = requireEmbeddings();
        int size = chunkTokens > 0 ? chunkTokens : defaultChunkTokens;
        // The model adds its own special tokens around each chunk.
        size = Math.min(size, e.model().maxLength() - 2);
        int overlap = overlapTokens > 0 ? overlapTokens : Math.min(defaultOverlapTokens, size / 2 - 1);
        Chunker chunker = new Chunker(e.model()::tokenSpans, size, overlap);
        List<AddedDocument> added = new ArrayList<>();
        for (Document d : documents) {
            for (String key : d.metadata().keySet()) {
                if (RESERVED.contains(key)) {
                    throw new IllegalArgumentException("metadata field '" + key + "' is set by Spillway on document chunks; rename it");
                }
            }
            String docId = d.id() != null ? d.id() : UUID.randomUUID().toString();
            List<Chunker.Chunk> chunks = chunker.chunk(d.text(), d.format());
            // Tokenized once: the ids are embedded and their count is the usage reported.
            List<long[]> ids = chunks.stream().map(ch -> e.model().tokenize(ch.embeddingText())).toList();
            List<float[]> vectors = e.embedIds(ids).join();
            List<VectorRecord> records = new ArrayList<>();
            List<String> chunkIds = new ArrayList<>();
            int tokens = 0;
            for (int i = 0; i < chunks.size(); i++) {
                Chunker.Chunk ch = chunks.get(i);
                Map<String, Object> meta = new LinkedHashMap<>(d.metadata());
                meta.put(TEXT, ch.text());
                meta.put(DOCUMENT_ID, docId);
                meta.put(CHUNK_INDEX, (long) i);
                if (!ch.section().isEmpty()) {
                    meta.put(SECTION, ch.section());
                }
                String id = chunkId(docId, i);
                chunkIds.add(id);
                records.add(new VectorRecord(id, vectors.get(i), meta));
                tokens += ids.get(i).length;
            }
            c.upsert(records);
            deleteChunksFrom(c, docId, chunks.size());
            added.add(new AddedDocument(docId, chunkIds, tokens));
        }
        return added;
    }

    static String chunkId(String documentId, int index) {
        return documentId + "#" + index;
    }

    /** Deletes a document's chunks from index {@code from} on; returns how many went. */
    private static int deleteChunksFrom(VectorCollection c, String documentId, int from) throws IOException {
        List<String> doomed = new ArrayList<>();
        for (int i = from; c.get(chunkId(documentId, i)).isPresent(); i++) {
            doomed.add(chunkId(documentId, i));
        }
        return c.delete(doomed);
    }

    public int deleteDocument(VectorCollection c, String documentId) throws IOException {
        return deleteChunksFrom(c, documentId, 0);
    }

    public List<Passage> queryText(VectorCollection c, String text, int topK, int ef, Filter filter) {
        requireTextCompatible(c);
        float[] v = requireEmbeddings().embedTexts(List.of(text)).join().get(0);
        return queryVector(c, v, topK, ef, filter);
    }

    public List<Passage> queryVector(VectorCollection c, float[] vector, int topK, int ef, Filter filter) {
        List<Passage> out = new ArrayList<>();
        for (SearchHit h : c.query(vector, topK, ef, filter)) {
            Object text = h.metadata().get(TEXT);
            Object doc = h.metadata().get(DOCUMENT_ID);
            out.add(new Passage(h.id(), h.score(), text instanceof String s ? s : null, doc instanceof String s ? s : null, h.metadata()));
        }
        return out;
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        for (CollectionStore s : stores.values()) {
            try {
                s.close();
            } catch (IOException e) {
                first = first == null ? e : first;
            }
        }
        stores.clear();
        if (first != null) {
            throw first;
        }
    }
}
