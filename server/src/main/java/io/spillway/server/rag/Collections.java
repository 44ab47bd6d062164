package io.spillway.server.rag;

import io.spillway.server.embeddings.EmbeddingService;
import io.spillway.server.store.CollectionCatalog;
import io.spillway.server.store.Rows;
import io.spillway.server.store.StoredCollection;
import io.spillway.server.wire.OpenAiException;
import io.spillway.vectors.CollectionSpec;
import io.spillway.vectors.Filter;
import io.spillway.vectors.SearchHit;
import io.spillway.vectors.VectorRecord;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

/**
 * Retrieval collections, each owned by one API key: documents are chunked, embedded and indexed;
 * raw vectors go straight in; queries take text or a vector. The catalog keeps them on this box or
 * in PostgreSQL shared by every replica; either way a write is acknowledged with its sequence
 * number, and a read may ask to see at least a given one ({@link #requireApplied}).
 */
public final class Collections implements AutoCloseable {

    /** Metadata fields Spillway sets on document chunks; user metadata cannot override them. */
    public static final String TEXT = Rows.TEXT;
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

    /** What adding documents produced, and the sequence number by which all of it is committed. */
    public record Added(List<AddedDocument> documents, long seq) {
    }

    private final CollectionCatalog catalog;
    private final Optional<EmbeddingService> embeddings;
    private final int defaultChunkTokens;
    private final int defaultOverlapTokens;
    private final Duration minSeqWait;

    /**
     * @param minSeqWait how long a read that asks for a sequence number this replica has not applied
     *                   waits for it before answering 503
     */
    public Collections(CollectionCatalog catalog, Optional<EmbeddingService> embeddings, int chunkTokens, int overlapTokens,
                       Duration minSeqWait) {
        this.catalog = catalog;
        this.embeddings = embeddings;
        this.defaultChunkTokens = chunkTokens;
        this.defaultOverlapTokens = overlapTokens;
        this.minSeqWait = minSeqWait;
    }

    public Optional<EmbeddingService> embeddings() {
        return embeddings;
    }

    public StoredCollection create(Owner owner, String name, CollectionSpec spec) throws IOException {
        return catalog.create(owner.id(), name, spec);
    }

    /** A collection of this owner; empty when it does not exist or belongs to someone else. */
    public Optional<StoredCollection> get(Owner owner, String name) throws IOException {
        return catalog.get(owner.id(), name);
    }

    public List<String> names(Owner owner) throws IOException {
        return catalog.names(owner.id());
    }

    public boolean drop(Owner owner, String name) throws IOException {
        return catalog.drop(owner.id(), name);
    }

    /**
     * Returns once this replica has applied {@code minSeq} (0: at once), waiting for it at most the
     * configured time; else 503 with Retry-After, naming how far this replica is.
     */
    public void requireApplied(StoredCollection c, long minSeq, String param) {
        if (minSeq <= 0 || c.appliedSeq() >= minSeq) {
            return;
        }
        boolean reached;
        try {
            reached = c.awaitApplied(minSeq, minSeqWait);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            reached = false;
        } catch (IOException e) {
            throw OpenAiException.internal("Collection storage failed: " + e.getMessage());
        }
        if (!reached) {
            throw new OpenAiException(503, "server_error", "Collection '" + c.name() + "' has applied writes up to seq " + c.appliedSeq()
                    + " on this replica; seq " + minSeq + " was not reached within " + minSeqWait.toMillis() + " ms. Retry shortly.",
                    param, "replica_behind", 1);
        }
    }

    public EmbeddingService requireEmbeddings() {
        return embeddings.orElseThrow(() -> new IllegalStateException(
                "no embedding model is configured (embeddings.model is none): only raw vectors can be added and queried"));
    }

    /** Checks that text can go into this collection: its dimension must match the embedding model's. */
    public void requireTextCompatible(StoredCollection c) {
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
    public Added addDocuments(StoredCollection c, List<Document> documents, int chunkTokens, int overlapTokens) throws IOException {
        requireTextCompatible(c);
        EmbeddingService e = requireEmbeddings();
        int size = chunkTokens > 0 ? chunkTokens : defaultChunkTokens;
        // The model adds its own special tokens around each chunk.
        size = Math.min(size, e.model().maxLength() - 2);
        int overlap = overlapTokens > 0 ? overlapTokens : Math.min(defaultOverlapTokens, size / 2 - 1);
        Chunker chunker = new Chunker(e.model()::tokenSpans, size, overlap);
        List<AddedDocument> added = new ArrayList<>();
        long seq = 0;
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
                String id = StoredCollection.chunkId(docId, i);
                chunkIds.add(id);
                records.add(new VectorRecord(id, vectors.get(i), meta));
                tokens += ids.get(i).length;
            }
            seq = Math.max(seq, c.putDocument(docId, records));
            added.add(new AddedDocument(docId, chunkIds, tokens));
        }
        return new Added(added, seq);
    }

    public StoredCollection.Deleted deleteDocument(StoredCollection c, String documentId) throws IOException {
        return c.deleteDocument(documentId);
    }

    public List<Passage> queryText(StoredCollection c, String text, int topK, int ef, Filter filter) {
        requireTextCompatible(c);
        float[] v = requireEmbeddings().embedTexts(List.of(text)).join().get(0);
        return queryVector(c, v, topK, ef, filter);
    }

    public List<Passage> queryVector(StoredCollection c, float[] vector, int topK, int ef, Filter filter) {
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
        catalog.close();
    }
}
