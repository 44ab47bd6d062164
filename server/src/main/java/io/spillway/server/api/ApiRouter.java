package io.spillway.server.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.models.tokenizer.TextTokenizer;
import io.spillway.server.http.Exchange;
import io.spillway.server.http.Router;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import io.spillway.server.config.ServerConfig;
import io.spillway.server.rag.ChatRetrieval;
import io.spillway.server.router.ChatRouter;
import io.spillway.server.rag.CollectionsApi;
import io.spillway.server.rag.Owner;
import java.util.Set;
import java.util.function.BooleanSupplier;
import io.spillway.server.platform.Caller;
import io.spillway.server.platform.Platform;
import io.spillway.server.platform.Sha256;
import io.spillway.server.platform.keys.ApiKey;
import io.spillway.server.platform.keys.KeyStore;

/**
 * The OpenAI-compatible API and the operational endpoints. Authentication (when keys are
 * configured) covers the API; health, readiness, version and metrics stay open for probes and
 * scrapers, and so does the dashboard's static page (its playground sends the key the user types).
 */
public final class ApiRouter implements Router {

    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    static {
        // Deeply nested JSON is rejected while parsing, before it costs anything.
        JSON.getFactory().setStreamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(256).build());
    }
    private static final Set<String> OPEN = Set.of("/health", "/ready", "/version", "/metrics");

    private final ServedModel model;
    private final Generations generations;
    private final Set<String> apiKeys;
    private final PrometheusRegistry registry;
    private final BooleanSupplier ready;
    private final String version;
    private final Optional<Embeddings> embeddings;
    private final CollectionsApi collections;
    private final ChatRouter chatRouter;
    private final Platform platform;
    private final DashboardAssets dashboardAssets = new DashboardAssets();
    private final io.spillway.server.http.AccessLog accessLog;

    public ApiRouter(ServedModel model, Generations generations, List<String> apiKeys, PrometheusRegistry registry,
                     BooleanSupplier ready, String version, Optional<Embeddings> embeddings, CollectionsApi collections,
                     ChatRouter chatRouter, Platform platform) {
        this.chatRouter = chatRouter;
        this.platform = platform;
        this.accessLog = new io.spillway.server.http.AccessLog(registry);
        this.embeddings = embeddings;
        this.collections = collections;
        this.model = model;
        this.generations = generations;
        this.apiKeys = Set.copyOf(apiKeys);
        this.registry = registry;
        this.ready = ready;
        this.version = version;
    }

    @Override
    public void handle(Exchange ex) {
        String path = ex.path();
        String method = ex.method();
        accessLog.watch(ex);
        boolean dashboard = path.equals(DashboardAssets.PREFIX) || path.startsWith(DashboardAssets.PREFIX + "/");
        Caller caller = OPEN.contains(path) || dashboard ? Caller.ANONYMOUS : authenticate(ex);
        if (dashboard) {
            requireMethod(method, "GET");
            dashboardAssets.serve(ex);
            return;
        }
        switch (path) {
            case "/health" -> {
                requireMethod(method, "GET");
                ObjectNode o = F.objectNode().put("status", "ok");
                ex.json(200, o);
            }
            case "/ready" -> {
                requireMethod(method, "GET");
                boolean isReady = ready.getAsBoolean();
                ex.json(isReady ? 200 : 503, F.objectNode().put("status", isReady ? "ready" : "starting"));
            }
            case "/version" -> {
                requireMethod(method, "GET");
                ex.json(200, F.objectNode().put("version", version).put("model", model.name()));
            }
            case "/metrics" -> {
                requireMethod(method, "GET");
                ex.text(200, "text/plain; version=0.0.4; charset=utf-8", metrics());
            }
            case "/v1/models" -> {
                requireMethod(method, "GET");
                ObjectNode list = F.objectNode().put("object", "list");
                ArrayNode data = list.putArray("data");
                data.add(modelEntry());
                for (ServerConfig.ModelRoute r : chatRouter.models()) {
                    if (!r.name().equals(model.name())) {
                        data.add(routedModelEntry(r));
                    }
                }
                embeddings.ifPresent(e -> data.add(embeddingModelEntry(e)));
                ex.json(200, list);
            }
            case "/v1/chat/completions" -> {
                requireMethod(method, "POST");
                Params p = body(ex);
                JsonNode rag = p.get("rag");
                ChatAugmenter retrieval = rag != null && !rag.isNull()
                        ? ChatRetrieval.parse(collections.collections(), owner(caller, ex), rag) : null;
                platform.serve(ex, caller, "chat", p,
                        q -> chatRouter.chat(ex, q, tenantSalt(caller, ex), retrieval, params -> ChatMessages.normalize(params.get("messages"))));
            }
            case "/v1/completions" -> {
                requireMethod(method, "POST");
                Params p = body(ex);
                platform.serve(ex, caller, "completions", p, q -> generations.completions(ex, resolve(q), q, tenantSalt(caller, ex)));
            }
            case "/v1/embeddings" -> {
                requireMethod(method, "POST");
                Params p = body(ex);
                String name = p.requiredString("model");
                Embeddings e = embeddings.filter(x -> x.modelName().equals(name)).orElse(null);
                if (e == null) {
                    if (name.equals(model.name())) {
                        throw OpenAiException.invalid("The model '" + name + "' generates text and does not serve embeddings"
                                + embeddings.map(x -> "; use '" + x.modelName() + "'").orElse("; no embedding model is configured")
                                + ".", "model", "model_not_supported");
                    }
                    throw OpenAiException.modelNotFound(name);
                }
                e.handle(ex, p);
            }
            case "/tokenize" -> {
                requireMethod(method, "POST");
                tokenize(ex, body(ex));
            }
            case "/detokenize" -> {
                requireMethod(method, "POST");
                detokenize(ex, body(ex));
            }
            default -> {
                if (path.equals(CollectionsApi.PREFIX) || path.startsWith(CollectionsApi.PREFIX + "/")) {
                    collections.handle(ex, owner(caller, ex));
                } else if (path.startsWith("/v1/models/")) {
                    requireMethod(method, "GET");
                    String id = path.substring("/v1/models/".length());
                    if (id.equals(model.name())) {
                        ex.json(200, modelEntry());
                    } else if (chatRouter.serves(id)) {
                        ex.json(200, routedModelEntry(chatRouter.models().stream().filter(r -> r.name().equals(id)).findFirst().orElseThrow()));
                    } else if (embeddings.isPresent() && id.equals(embeddings.get().modelName())) {
                        ex.json(200, embeddingModelEntry(embeddings.get()));
                    } else {
                        throw OpenAiException.modelNotFound(id);
                    }
                } else {
                    throw OpenAiException.notFound("Unknown request URL: " + method + " " + path + ".");
                }
            }
        }
    }

    /**
     * The caller, from its bearer key: a key from the key store (with its policy), or one of
     * {@code server.api-keys}. Keys are required once either kind exists; otherwise the API is open.
     */
    private Caller authenticate(Exchange ex) {
        boolean storeKeys = platform.keys().map(KeyStore::anyActive).orElse(false);
        if (apiKeys.isEmpty() && !storeKeys) {
            return Caller.ANONYMOUS;
        }
        String header = ex.header("Authorization");
        if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            throw OpenAiException.unauthorized("You didn't provide an API key. You need to provide your API key in an Authorization"
                    + " header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).");
        }
        String key = header.substring(7).strip();
        Optional<ApiKey> stored = platform.keys().flatMap(k -> k.authenticate(key));
        if (stored.isPresent()) {
            return new Caller(stored.get().id(), stored.get().tenant(), stored);
        }
        boolean ok = false;
        for (String candidate : apiKeys) {
            ok |= MessageDigest.isEqual(candidate.getBytes(StandardCharsets.UTF_8), key.getBytes(StandardCharsets.UTF_8));
        }
        if (!ok) {
            throw OpenAiException.unauthorized("Incorrect API key provided.");
        }
        return new Caller("static:" + Sha256.hex(key).substring(0, 12), "default", Optional.empty());
    }

    /** Keeps tenants' prefix caches apart: the salt is a hash of the caller's key. */
    private String tenantSalt(Caller caller, Exchange ex) {
        if (caller == Caller.ANONYMOUS) {
            return "";
        }
        return Sha256.hex(ex.header("Authorization")).substring(0, 32);
    }

    private static void requireMethod(String method, String expected) {
        if (!method.equals(expected)) {
            throw OpenAiException.methodNotAllowed("Method " + method + " is not allowed here; use " + expected + ".");
        }
    }

    public static Params body(Exchange ex) {
        JsonNode node;
        try {
            node = JSON.readTree(ex.body());
        } catch (JsonProcessingException e) {
            throw OpenAiException.invalid("We could not parse the JSON body of your request: " + e.getOriginalMessage()
                    + ". The body must be valid JSON in UTF-8.", null, "invalid_json");
        } catch (IOException e) {
            throw OpenAiException.invalid("We could not read the body of your request: " + e.getMessage(), null, "invalid_json");
        }
        if (node == null || node.isMissingNode()) {
            throw OpenAiException.invalid("The request body is empty: send a JSON object.", null, "invalid_json");
        }
        return new Params(node);
    }

    private ServedModel resolve(Params p) {
        String name = p.requiredString("model");
        if (!name.equals(model.name())) {
            throw OpenAiException.modelNotFound(name);
        }
        return model;
    }

    /** Whose collections a request may see: its API key's, or everyone's when no keys are configured. */
    private Owner owner(Caller caller, Exchange ex) {
        if (caller == Caller.ANONYMOUS) {
            return Owner.ANONYMOUS;
        }
        return Owner.ofApiKey(ex.header("Authorization").substring(7).strip());
    }

    private ObjectNode routedModelEntry(ServerConfig.ModelRoute r) {
        ObjectNode m = F.objectNode();
        m.put("id", r.name());
        m.put("object", "model");
        m.put("created", model.created());
        m.put("owned_by", r.local() ? "spillway" : "amazon-bedrock");
        return m;
    }

    private ObjectNode embeddingModelEntry(Embeddings e) {
        ObjectNode m = F.objectNode();
        m.put("id", e.modelName());
        m.put("object", "model");
        m.put("created", model.created());
        m.put("owned_by", "spillway");
        m.put("max_model_len", e.service().model().maxLength());
        return m;
    }

    private ObjectNode modelEntry() {
        ObjectNode m = F.objectNode();
        m.put("id", model.name());
        m.put("object", "model");
        m.put("created", model.created());
        m.put("owned_by", model.ownedBy());
        m.put("max_model_len", model.maxModelLength());
        return m;
    }

    private void tokenize(Exchange ex, Params p) {
        if (p.has("model") && !p.string("model", "").equals(model.name())) {
            throw OpenAiException.modelNotFound(p.string("model", ""));
        }
        TextTokenizer tokenizer = model.requireTokenizer("tokenization");
        int[] ids;
        if (p.has("messages")) {
            ids = tokenizer.encode(Generations.chatPrompt(model, p), p.bool("add_special_tokens", false));
        } else if (p.has("prompt")) {
            ids = tokenizer.encode(p.requiredString("prompt"), p.bool("add_special_tokens", true));
        } else {
            throw OpenAiException.invalid("Send either 'prompt' or 'messages'.", "prompt", "missing_required_parameter");
        }
        ObjectNode out = F.objectNode();
        out.put("count", ids.length);
        out.put("max_model_len", model.maxModelLength());
        ArrayNode tokens = out.putArray("tokens");
        for (int id : ids) {
            tokens.add(id);
        }
        if (p.bool("return_token_strs", false)) {
            ArrayNode strs = out.putArray("token_strs");
            for (int id : ids) {
                strs.add(model.tokenText(id));
            }
        } else {
            out.putNull("token_strs");
        }
        ex.json(200, out);
    }

    private void detokenize(Exchange ex, Params p) {
        if (p.has("model") && !p.string("model", "").equals(model.name())) {
            throw OpenAiException.modelNotFound(p.string("model", ""));
        }
        JsonNode tokens = p.array("tokens");
        if (tokens == null) {
            throw OpenAiException.invalid("Missing required parameter: 'tokens'.", "tokens", "missing_required_parameter");
        }
        int[] ids = new int[tokens.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode t = tokens.get(i);
            if (!t.isIntegralNumber() || t.asLong() < 0 || t.asLong() >= model.vocabSize()) {
                throw OpenAiException.invalid("Invalid 'tokens[" + i + "]': token ids are integers in [0, " + model.vocabSize() + ").",
                        "tokens");
            }
            ids[i] = t.asInt();
        }
        ex.json(200, F.objectNode().put("prompt", model.requireTokenizer("detokenization").decode(ids, false)));
    }

    private String metrics() {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            PrometheusTextFormatWriter.create().write(out, registry.scrape());
            return out.toString(StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw OpenAiException.internal("cannot write metrics: " + e.getMessage());
        }
    }

}
