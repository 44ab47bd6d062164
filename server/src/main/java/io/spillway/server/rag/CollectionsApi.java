package io.spillway.server.rag;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.server.wire.Fields;
import io.spillway.server.wire.OpenAiException;
import io.spillway.vectors.CollectionSpec;
import io.spillway.vectors.Filter;
import io.spillway.vectors.Metric;
import io.spillway.server.store.NoSuchCollectionException;
import io.spillway.server.store.StoreUnavailableException;
import io.spillway.server.store.StoredCollection;
import io.spillway.vectors.VectorRecord;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.function.Supplier;

/**
 * The collections API under {@code /v1/collections}:
 * <pre>
 * POST   /v1/collections                          create {name, dimension?, metric?, m?, ef_construction?, ef?}
 * GET    /v1/collections                          list
 * GET    /v1/collections/{c}                      describe
 * DELETE /v1/collections/{c}                      drop
 * POST   /v1/collections/{c}/documents            add {documents: [{id?, text, format?, metadata?}], chunk_tokens?, chunk_overlap?}
 * DELETE /v1/collections/{c}/documents/{doc}      delete a document's chunks
 * POST   /v1/collections/{c}/vectors              upsert {vectors: [{id, vector, metadata?, text?}]}
 * GET    /v1/collections/{c}/vectors/{id}         get one record
 * DELETE /v1/collections/{c}/vectors/{id}         delete one record
 * POST   /v1/collections/{c}/query                {text | vector, top_k?, ef?, filter?, include_vectors?, min_seq?}
 * </pre>
 * A collection of another owner answers 404, exactly like one that does not exist.
 *
 * <p>Every write answers with {@code seq}, the sequence number it was committed at; a query may send
 * one as {@code min_seq} to see at least that write (from any replica), and every query and
 * description says, as {@code seq}, the last write this replica had applied when it read.
 */
public final class CollectionsApi {

    public static final String PREFIX = "/v1/collections";
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final int MAX_DOCUMENTS = 1024;
    private static final int MAX_VECTORS = 10_000;
    private static final int MAX_TOP_K = 1000;

    private final Collections collections;

    public CollectionsApi(Collections collections) {
        this.collections = collections;
    }

    public Collections collections() {
        return collections;
    }

    /**
     * Answers one request under {@code /v1/collections}.
     *
     * @param path the path's segments after the prefix, each decoded once
     * @param body the request's body, read only by the calls that have one
     * @return the answer's body (status 200)
     */
    public ObjectNode handle(String method, List<String> path, Supplier<Fields> body, Owner owner) {
        try {
            return switch (path.size()) {
                case 0 -> switch (method) {
                    case "POST" -> create(owner, body.get());
                    case "GET" -> list(owner);
                    default -> throw notAllowed(method, "GET or POST");
                };
                case 1 -> switch (method) {
                    case "GET" -> describe(path.get(0), require(owner, path.get(0)));
                    case "DELETE" -> {
                        if (!collections.drop(owner, path.get(0))) {
                            throw notFound(path.get(0));
                        }
                        yield F.objectNode().put("id", path.get(0)).put("object", "collection.deleted").put("deleted", true);
                    }
                    default -> throw notAllowed(method, "GET or DELETE");
                };
                case 2, 3 -> sub(method, owner, path, body);
                default -> throw unknown(method, path);
            };
        } catch (NoSuchCollectionException e) {
            throw new OpenAiException(404, "invalid_request_error", e.getMessage(), "collection", "collection_not_found", 0);
        } catch (StoreUnavailableException e) {
            // A connection lost during a commit leaves the outcome unknown: say so. Writes are idempotent (an
            // upsert of the same records, a delete of the same ids), so retrying is safe either way.
            throw new OpenAiException(503, "server_error", e.getMessage() + " The request was not acknowledged (a write may or may"
                    + " not have been applied; retrying it is safe).", null, "store_unavailable", 2);
        } catch (IllegalArgumentException e) {
            throw OpenAiException.invalid(e.getMessage(), null);
        } catch (IllegalStateException e) {
            throw new OpenAiException(409, "invalid_request_error", e.getMessage(), null, "conflict", 0);
        } catch (CompletionException e) {
            throw OpenAiException.internal("Embedding failed: " + e.getCause().getMessage());
        } catch (IOException e) {
            throw OpenAiException.internal("Collection storage failed: " + e.getMessage());
        }
    }

    private static OpenAiException unknown(String method, List<String> path) {
        return OpenAiException.notFound("Unknown request URL: " + method + " " + PREFIX + "/" + String.join("/", path) + ".");
    }

    private ObjectNode sub(String method, Owner owner, List<String> parts, Supplier<Fields> body) throws IOException {
        String name = parts.get(0);
        StoredCollection c = require(owner, name);
        switch (parts.get(1)) {
            case "documents" -> {
                if (parts.size() == 2 && method.equals("POST")) {
                    return addDocuments(c, body.get());
                } else if (parts.size() == 3 && method.equals("DELETE")) {
                    StoredCollection.Deleted d = collections.deleteDocument(c, parts.get(2));
                    if (d.count() == 0) {
                        throw OpenAiException.notFound("Document '" + parts.get(2) + "' is not in collection '" + name + "'.");
                    }
                    return F.objectNode().put("id", parts.get(2)).put("object", "document.deleted").put("deleted", true)
                            .put("chunks", d.count()).put("seq", d.seq());
                }
                throw notAllowed(method, parts.size() == 2 ? "POST" : "DELETE");
            }
            case "vectors" -> {
                if (parts.size() == 2 && method.equals("POST")) {
                    return upsertVectors(c, body.get());
                } else if (parts.size() == 3 && method.equals("GET")) {
                    VectorRecord r = c.get(parts.get(2)).orElseThrow(() -> OpenAiException.notFound(
                            "Record '" + parts.get(2) + "' is not in collection '" + name + "'."));
                    return record(r, true);
                } else if (parts.size() == 3 && method.equals("DELETE")) {
                    StoredCollection.Deleted d = c.delete(List.of(parts.get(2)));
                    if (d.count() == 0) {
                        throw OpenAiException.notFound("Record '" + parts.get(2) + "' is not in collection '" + name + "'.");
                    }
                    return F.objectNode().put("id", parts.get(2)).put("object", "vector.deleted").put("deleted", true).put("seq", d.seq());
                }
                throw notAllowed(method, parts.size() == 2 ? "POST" : "GET or DELETE");
            }
            case "query" -> {
                if (parts.size() != 2 || !method.equals("POST")) {
                    throw notAllowed(method, "POST");
                }
                return query(c, body.get());
            }
            default -> throw unknown(method, parts);
        }
    }

    private StoredCollection require(Owner owner, String name) throws IOException {
        return collections.get(owner, name).orElseThrow(() -> notFound(name));
    }

    private static OpenAiException notFound(String name) {
        return new OpenAiException(404, "invalid_request_error", "Collection '" + name + "' does not exist.", "collection",
                "collection_not_found", 0);
    }

    private static OpenAiException notAllowed(String method, String allowed) {
        return OpenAiException.methodNotAllowed("Method " + method + " is not allowed here; use " + allowed + ".");
    }

    private ObjectNode create(Owner owner, Fields p) throws IOException {
        String name = p.requiredString("name");
        Long dimension = p.integer("dimension", 1, CollectionSpec.MAX_DIMENSION);
        int dim;
        if (dimension != null) {
            dim = dimension.intValue();
        } else {
            dim = collections.embeddings().orElseThrow(() -> OpenAiException.invalid(
                    "No embedding model is configured, so 'dimension' is required.", "dimension")).dimension();
        }
        Metric metric = Metric.parse(p.string("metric", "cosine"));
        CollectionSpec spec = new CollectionSpec(dim, metric,
                p.integer("m", 2, 256) == null ? CollectionSpec.DEFAULT_M : p.integer("m", 2, 256).intValue(),
                p.integer("ef_construction", 1, 10_000) == null ? CollectionSpec.DEFAULT_EF_CONSTRUCTION
                        : p.integer("ef_construction", 1, 10_000).intValue(),
                p.integer("ef", 1, 10_000) == null ? CollectionSpec.DEFAULT_EF : p.integer("ef", 1, 10_000).intValue());
        StoredCollection c = collections.create(owner, name, spec);
        return describe(name, c);
    }

    private ObjectNode list(Owner owner) throws IOException {
        ObjectNode out = F.objectNode().put("object", "list");
        ArrayNode data = out.putArray("data");
        for (String name : collections.names(owner)) {
            collections.get(owner, name).ifPresent(c -> data.add(describe(name, c)));
        }
        return out;
    }

    private static ObjectNode describe(String name, StoredCollection c) {
        ObjectNode o = F.objectNode();
        o.put("id", name);
        o.put("object", "collection");
        o.put("dimension", c.spec().dimension());
        o.put("metric", c.spec().metric().wireName());
        o.put("m", c.spec().m());
        o.put("ef_construction", c.spec().efConstruction());
        o.put("ef", c.spec().ef());
        o.put("count", c.size());
        o.put("seq", c.appliedSeq());
        return o;
    }

    private ObjectNode addDocuments(StoredCollection c, Fields p) throws IOException {
        JsonNode docs = p.array("documents");
        if (docs == null || docs.isEmpty()) {
            throw OpenAiException.invalid("'documents' must be a non-empty array of {id?, text, format?, metadata?}.", "documents");
        }
        if (docs.size() > MAX_DOCUMENTS) {
            throw OpenAiException.invalid("At most " + MAX_DOCUMENTS + " documents per request.", "documents");
        }
        List<Collections.Document> list = new ArrayList<>();
        for (int i = 0; i < docs.size(); i++) {
            JsonNode d = docs.get(i);
            String where = "documents[" + i + "]";
            if (!d.isObject() || !d.path("text").isTextual() || d.path("text").asText().isBlank()) {
                throw OpenAiException.invalid("'" + where + "' needs a non-empty 'text'.", where);
            }
            String id = d.hasNonNull("id") ? requireId(d.get("id"), where + ".id") : null;
            Chunker.Format format = Chunker.Format.parse(d.hasNonNull("format") ? requireText(d.get("format"), where + ".format") : "text");
            list.add(new Collections.Document(id, d.get("text").asText(), format, metadata(d.get("metadata"), where + ".metadata")));
        }
        int chunkTokens = p.integer("chunk_tokens", 8, 8192) == null ? 0 : p.integer("chunk_tokens", 8, 8192).intValue();
        int overlap = p.integer("chunk_overlap", 0, 4096) == null ? 0 : p.integer("chunk_overlap", 0, 4096).intValue();
        Collections.Added added = collections.addDocuments(c, list, chunkTokens, overlap);
        ObjectNode out = F.objectNode().put("object", "list");
        ArrayNode data = out.putArray("data");
        int tokens = 0;
        for (Collections.AddedDocument a : added.documents()) {
            ObjectNode o = data.addObject();
            o.put("object", "document");
            o.put("id", a.documentId());
            ArrayNode ids = o.putArray("chunk_ids");
            a.chunkIds().forEach(ids::add);
            tokens += a.tokens();
        }
        out.putObject("usage").put("prompt_tokens", tokens).put("total_tokens", tokens);
        out.put("seq", added.seq());
        return out;
    }

    private ObjectNode upsertVectors(StoredCollection c, Fields p) throws IOException {
        JsonNode vectors = p.array("vectors");
        if (vectors == null || vectors.isEmpty()) {
            throw OpenAiException.invalid("'vectors' must be a non-empty array of {id, vector, metadata?, text?}.", "vectors");
        }
        if (vectors.size() > MAX_VECTORS) {
            throw OpenAiException.invalid("At most " + MAX_VECTORS + " vectors per request.", "vectors");
        }
        List<VectorRecord> records = new ArrayList<>();
        for (int i = 0; i < vectors.size(); i++) {
            JsonNode v = vectors.get(i);
            String where = "vectors[" + i + "]";
            if (!v.isObject()) {
                throw OpenAiException.invalid("'" + where + "' must be an object.", where);
            }
            String id = requireId(v.get("id"), where + ".id");
            float[] vector = vector(v.get("vector"), where + ".vector", c.spec().dimension());
            Map<String, Object> meta = metadata(v.get("metadata"), where + ".metadata");
            if (v.hasNonNull("text")) {
                meta.put(Collections.TEXT, requireText(v.get("text"), where + ".text"));
            }
            records.add(new VectorRecord(id, vector, meta));
        }
        long seq = c.upsert(records);
        return F.objectNode().put("object", "vectors.upserted").put("upserted", records.size()).put("count", c.size()).put("seq", seq);
    }

    private ObjectNode query(StoredCollection c, Fields p) {
        Long minSeq = p.integer("min_seq", 0, Long.MAX_VALUE);
        collections.requireApplied(c, minSeq == null ? 0 : minSeq, "min_seq");
        // Read before searching: every write up to it is in what the search sees.
        long seq = c.appliedSeq();
        int topK = p.integer("top_k", 1, MAX_TOP_K) == null ? 4 : p.integer("top_k", 1, MAX_TOP_K).intValue();
        int ef = p.integer("ef", 1, 10_000) == null ? 0 : p.integer("ef", 1, 10_000).intValue();
        Filter filter = FilterJson.parse(p.get("filter"));
        boolean includeVectors = p.bool("include_vectors", false);
        List<Passage> hits;
        if (p.has("vector") && p.has("text")) {
            throw OpenAiException.invalid("Send either 'text' or 'vector', not both.", "text");
        } else if (p.has("vector")) {
            hits = collections.queryVector(c, vector(p.get("vector"), "vector", c.spec().dimension()), topK, ef, filter);
        } else if (p.has("text")) {
            String text = p.requiredString("text");
            hits = collections.queryText(c, text, topK, ef, filter);
        } else {
            throw OpenAiException.invalid("Send 'text' or 'vector' to query by.", "text", "missing_required_parameter");
        }
        ObjectNode out = F.objectNode().put("object", "list");
        ArrayNode data = out.putArray("data");
        for (Passage h : hits) {
            ObjectNode o = data.addObject();
            o.put("id", h.id());
            o.put("score", h.score());
            if (h.documentId() != null) {
                o.put("document_id", h.documentId());
            }
            if (h.text() != null) {
                o.put("text", h.text());
            }
            o.set("metadata", metadataJson(h.metadata()));
            if (includeVectors) {
                c.get(h.id()).ifPresent(r -> o.set("vector", vectorJson(r.vector())));
            }
        }
        out.put("seq", seq);
        return out;
    }

    private static ObjectNode record(VectorRecord r, boolean withVector) {
        ObjectNode o = F.objectNode();
        o.put("id", r.id());
        o.put("object", "vector");
        if (r.metadata().get(Collections.TEXT) instanceof String s) {
            o.put("text", s);
        }
        o.set("metadata", metadataJson(r.metadata()));
        if (withVector) {
            o.set("vector", vectorJson(r.vector()));
        }
        return o;
    }

    private static ArrayNode vectorJson(float[] v) {
        ArrayNode a = F.arrayNode(v.length);
        for (float x : v) {
            a.add(x);
        }
        return a;
    }

    /** Metadata as the caller gave it; the chunk text is reported on its own. */
    static ObjectNode metadataJson(Map<String, Object> metadata) {
        ObjectNode o = F.objectNode();
        metadata.forEach((k, v) -> {
            if (k.equals(Collections.TEXT)) {
                return;
            }
            switch (v) {
                case String s -> o.put(k, s);
                case Long l -> o.put(k, l);
                case Double d -> o.put(k, d);
                case Boolean b -> o.put(k, b);
                default -> o.put(k, v.toString());
            }
        });
        return o;
    }

    /** Longest id, in characters. */
    static final int MAX_ID_LENGTH = 256;

    /**
     * An id of a document or a record: 1 to 256 characters of valid Unicode without control
     * characters, and neither "." nor ".." (which clients and proxies collapse in a URL path). Any
     * other character may be used, percent-encoded in URLs ("a/b" is {@code a%2Fb}).
     */
    private static String requireId(JsonNode n, String where) {
        String id = requireText(n, where);
        boolean valid = id.length() <= MAX_ID_LENGTH && !id.equals(".") && !id.equals("..");
        for (int i = 0; valid && i < id.length(); i++) {
            char c = id.charAt(i);
            if (Character.isISOControl(c)) {
                valid = false;
            } else if (Character.isHighSurrogate(c)) {
                valid = i + 1 < id.length() && Character.isLowSurrogate(id.charAt(++i));
            } else if (Character.isLowSurrogate(c)) {
                valid = false;
            }
        }
        if (!valid) {
            throw OpenAiException.invalid("'" + where + "' must be 1 to " + MAX_ID_LENGTH + " characters of valid Unicode without control"
                    + " characters, and not '.' or '..' (use any other character, percent-encoded in URLs).", where);
        }
        return id;
    }

    private static String requireText(JsonNode n, String where) {
        if (n == null || !n.isTextual() || n.asText().isEmpty()) {
            throw OpenAiException.invalid("'" + where + "' must be a non-empty string.", where);
        }
        return n.asText();
    }

    private static Map<String, Object> metadata(JsonNode n, String where) {
        Map<String, Object> out = new LinkedHashMap<>();
        if (n == null || n.isNull()) {
            return out;
        }
        if (!n.isObject()) {
            throw OpenAiException.invalid("'" + where + "' must be an object of strings, numbers and booleans.", where);
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            out.put(e.getKey(), FilterJson.scalar(where + "." + e.getKey(), e.getValue()));
        }
        return out;
    }

    private static float[] vector(JsonNode n, String where, int dimension) {
        if (n == null || !n.isArray() || n.size() != dimension) {
            throw OpenAiException.invalid("'" + where + "' must be an array of " + dimension + " numbers.", where);
        }
        float[] v = new float[dimension];
        for (int i = 0; i < dimension; i++) {
            JsonNode x = n.get(i);
            if (!x.isNumber() || !Double.isFinite(x.asDouble())) {
                throw OpenAiException.invalid("'" + where + "[" + i + "]' must be a finite number.", where);
            }
            v[i] = (float) x.asDouble();
        }
        return v;
    }
}
