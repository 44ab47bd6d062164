package io.spillway.server.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.models.tokenizer.TextTokenizer;
import io.spillway.server.config.ServerConfig;
import io.spillway.server.engine.EngineHealth;
import io.spillway.server.generation.Caller;
import io.spillway.server.generation.GenerationRequest;
import io.spillway.server.generation.Generator;
import io.spillway.server.generation.Start;
import io.spillway.server.http.Exchange;
import io.spillway.server.http.HttpError;
import io.spillway.server.http.Router;
import io.spillway.server.local.ServedModel;
import io.spillway.server.rag.CollectionsApi;
import io.spillway.server.rag.Owner;
import io.spillway.server.wire.DetokenizeRequest;
import io.spillway.server.wire.EmbeddingRequest;
import io.spillway.server.wire.GenerationBody;
import io.spillway.server.wire.JsonBody;
import io.spillway.server.wire.ModelCard;
import io.spillway.server.wire.OpenAiEncoder;
import io.spillway.server.wire.OpenAiException;
import io.spillway.server.wire.Requests;
import io.spillway.server.wire.TokenIds;
import io.spillway.server.wire.TokenizeRequest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.function.Supplier;
import java.util.function.Function;

/**
 * The OpenAI-compatible API and the operational endpoints, routed on the request path's segments
 * (each decoded once). Authentication (when keys are configured) covers the API; health,
 * readiness, version and metrics stay open for probes and scrapers, and so does the dashboard's
 * static page (its playground sends the key the user types). Generation requests are parsed
 * into their typed form, handed to the generation pipeline, and answered by
 * {@link GenerationResponder}.
 */
public final class ApiRouter implements Router {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String JSON_TYPE = "application/json";

    /** What the router answers with; each part is built by the server's wiring. */
    public record Parts(ServedModel model, List<ServerConfig.ModelRoute> routedModels, Generator generator,
                        List<String> staticKeys, Optional<io.spillway.server.platform.keys.KeyStore> keyStore,
                        Optional<io.spillway.server.embeddings.EmbeddingService> embeddings, CollectionsApi collections,
                        PrometheusRegistry registry, Supplier<EngineHealth> health, String version, java.time.Clock clock) {
    }

    private final ServedModel model;
    private final List<ServerConfig.ModelRoute> routedModels;
    private final Generator generator;
    private final Authenticator authenticator;
    private final Optional<EmbeddingsEndpoint> embeddings;
    private final CollectionsApi collections;
    private final PrometheusRegistry registry;
    private final Supplier<EngineHealth> health;
    private final String version;
    private final OpenAiEncoder encoder = new OpenAiEncoder();
    private final ApiErrors errors = new ApiErrors(encoder);
    private final GenerationResponder responder;
    private final DashboardAssets dashboardAssets = new DashboardAssets();
    private final AccessLog accessLog;

    public ApiRouter(Parts parts) {
        this.model = parts.model();
        this.routedModels = List.copyOf(parts.routedModels());
        this.generator = parts.generator();
        this.authenticator = new Authenticator(parts.staticKeys(), parts.keyStore());
        this.embeddings = parts.embeddings().map(e -> new EmbeddingsEndpoint(e, encoder));
        this.collections = parts.collections();
        this.registry = parts.registry();
        this.health = parts.health();
        this.version = parts.version();
        this.responder = new GenerationResponder(encoder, parts.clock());
        this.accessLog = new AccessLog(registry);
    }

    /** The HTTP layer's own errors in the API's shape. */
    public io.spillway.server.http.ErrorRenderer errors() {
        return errors;
    }

    /** Which keys are enforced, for the start-up log. */
    public String authentication() {
        return authenticator.enforced();
    }

    @Override
    public Optional<HttpError> refuseBeforeBody(String method, String path, Function<String, String> header) {
        List<String> segments;
        try {
            segments = PathSegments.decode(path);
        } catch (OpenAiException e) {
            return Optional.empty();
        }
        if (open(segments)) {
            return Optional.empty();
        }
        try {
            authenticator.authenticate(header.apply("Authorization"));
            return Optional.empty();
        } catch (OpenAiException e) {
            return Optional.of(new HttpError(e.status(), e.code(), e.getMessage(), 0));
        }
    }

    /** Probes, scrapers and the dashboard's static files need no key. */
    private static boolean open(List<String> path) {
        if (!path.isEmpty() && path.get(0).equals("dashboard")) {
            return true;
        }
        return path.size() == 1 && List.of("health", "ready", "version", "metrics").contains(path.get(0));
    }

    @Override
    public void handle(Exchange ex) {
        Outcome outcome = new Outcome();
        accessLog.watch(ex, outcome);
        try {
            route(ex, PathSegments.decode(ex.path()), outcome);
        } catch (OpenAiException e) {
            ApiErrors.respond(ex, encoder, e);
        }
    }

    private void route(Exchange ex, List<String> path, Outcome outcome) {
        String method = ex.method();
        if (!path.isEmpty() && path.get(0).equals("dashboard")) {
            requireMethod(method, "GET");
            dashboardAssets.serve(ex);
            return;
        }
        String joined = "/" + String.join("/", path);
        switch (joined) {
            case "/health" -> {
                requireMethod(method, "GET");
                // Liveness: fails only when this process cannot serve again, so that it is restarted.
                if (health.get() instanceof EngineHealth.DeviceLost lost) {
                    ex.respond(503, JSON_TYPE, encoder.status(lost.status(), lost.reason()), Map.of());
                } else {
                    ex.respond(200, JSON_TYPE, encoder.status("ok"), Map.of());
                }
            }
            case "/ready" -> {
                requireMethod(method, "GET");
                switch (health.get()) {
                    case EngineHealth.Serving s -> ex.respond(200, JSON_TYPE, encoder.status(s.status()), Map.of());
                    case EngineHealth.Stopping s -> ex.respond(503, JSON_TYPE, encoder.status(s.status(), "the server is shutting down"),
                            Map.of());
                    case EngineHealth.DeviceLost lost -> ex.respond(503, JSON_TYPE, encoder.status(lost.status(),
                            "the model's device failed and cannot recover: " + lost.reason()), Map.of());
                }
            }
            case "/version" -> {
                requireMethod(method, "GET");
                ex.respond(200, JSON_TYPE, encoder.version(version, model.name()), Map.of());
            }
            case "/metrics" -> {
                requireMethod(method, "GET");
                ex.respond(200, "text/plain; version=0.0.4; charset=utf-8", metrics(), Map.of());
            }
            default -> api(ex, path, method, authenticator.authenticate(ex), outcome);
        }
    }

    private void api(Exchange ex, List<String> path, String method, Caller caller, Outcome outcome) {
        if (path.size() >= 2 && path.get(0).equals("v1") && path.get(1).equals("collections")) {
            ObjectNode answer = collections.handle(method, path.subList(2, path.size()), () -> JsonBody.parse(ex.body()),
                    caller == Caller.ANONYMOUS ? Owner.ANONYMOUS : new Owner(caller.owner()));
            ex.respond(200, JSON_TYPE, json(answer), Map.of());
            return;
        }
        if (path.size() == 3 && path.get(0).equals("v1") && path.get(1).equals("models")) {
            requireMethod(method, "GET");
            ex.respond(200, JSON_TYPE, encoder.model(modelCard(path.get(2))), Map.of());
            return;
        }
        switch ("/" + String.join("/", path)) {
            case "/v1/models" -> {
                requireMethod(method, "GET");
                List<ModelCard> cards = new ArrayList<>();
                cards.add(localCard());
                routedModels.stream().filter(r -> !r.name().equals(model.name())).forEach(r -> cards.add(routedCard(r)));
                embeddings.ifPresent(e -> cards.add(embeddingCard(e)));
                ex.respond(200, JSON_TYPE, encoder.models(cards), Map.of());
            }
            case "/v1/chat/completions" -> {
                requireMethod(method, "POST");
                generate(ex, caller, Requests.chat(JsonBody.parse(ex.body())), outcome);
            }
            case "/v1/completions" -> {
                requireMethod(method, "POST");
                generate(ex, caller, Requests.completion(JsonBody.parse(ex.body())), outcome);
            }
            case "/v1/embeddings" -> {
                requireMethod(method, "POST");
                EmbeddingRequest request = Requests.embeddings(JsonBody.parse(ex.body()));
                EmbeddingsEndpoint e = embeddings.filter(x -> x.modelName().equals(request.model())).orElseThrow(() ->
                        request.model().equals(model.name()) ? OpenAiException.invalid("The model '" + request.model()
                                + "' generates text and does not serve embeddings" + embeddings.map(x -> "; use '" + x.modelName() + "'")
                                .orElse("; no embedding model is configured") + ".", "model", "model_not_supported")
                                : OpenAiException.modelNotFound(request.model()));
                ex.respond(200, JSON_TYPE, e.embed(request), Map.of());
            }
            case "/tokenize" -> {
                requireMethod(method, "POST");
                ex.respond(200, JSON_TYPE, tokenize(Requests.tokenize(JsonBody.parse(ex.body()))), Map.of());
            }
            case "/detokenize" -> {
                requireMethod(method, "POST");
                ex.respond(200, JSON_TYPE, detokenize(Requests.detokenize(JsonBody.parse(ex.body()))), Map.of());
            }
            default -> throw OpenAiException.notFound("Unknown request URL: " + method + " " + ex.path() + ".");
        }
    }

    private void generate(Exchange ex, Caller caller, GenerationBody body, Outcome outcome) {
        Start start = generator.start(new GenerationRequest(ex.requestId(), caller, body, ex.arrivalNanos()));
        responder.respond(ex, body, start, outcome);
    }

    private static void requireMethod(String method, String expected) {
        if (!method.equals(expected)) {
            throw OpenAiException.methodNotAllowed("Method " + method + " is not allowed here; use " + expected + ".");
        }
    }

    private ModelCard modelCard(String id) {
        if (id.equals(model.name())) {
            return localCard();
        }
        Optional<ServerConfig.ModelRoute> routed = routedModels.stream().filter(r -> r.name().equals(id)).findFirst();
        if (routed.isPresent()) {
            return routedCard(routed.get());
        }
        return embeddings.filter(e -> e.modelName().equals(id)).map(this::embeddingCard)
                .orElseThrow(() -> OpenAiException.modelNotFound(id));
    }

    private ModelCard localCard() {
        return new ModelCard(model.name(), model.created(), model.ownedBy(), OptionalInt.of(model.maxModelLength()),
                Optional.of(model.weights()));
    }

    private ModelCard routedCard(ServerConfig.ModelRoute r) {
        return new ModelCard(r.name(), model.created(), r.local() ? "spillway" : "amazon-bedrock", OptionalInt.empty());
    }

    private ModelCard embeddingCard(EmbeddingsEndpoint e) {
        return new ModelCard(e.modelName(), model.created(), "spillway", OptionalInt.of(e.maxLength()));
    }

    private void requireServedModel(Optional<String> name) {
        if (name.isPresent() && !name.get().equals(model.name())) {
            throw OpenAiException.modelNotFound(name.get());
        }
    }

    private byte[] tokenize(TokenizeRequest request) {
        requireServedModel(request.model());
        TextTokenizer tokenizer = model.requireTokenizer("tokenization");
        int[] ids = request.prompt().isPresent() ? tokenizer.encode(request.prompt().get(), request.addSpecialTokens())
                : tokenizer.encode(model.renderConversation(request.messages(), request.tools(), request.template()), request.addSpecialTokens());
        Optional<List<String>> texts = request.returnTokenStrings()
                ? Optional.of(Arrays.stream(ids).mapToObj(model::tokenText).toList()) : Optional.empty();
        return encoder.tokenized(ids, model.maxModelLength(), texts);
    }

    private byte[] detokenize(DetokenizeRequest request) {
        requireServedModel(request.model());
        int[] ids = request.tokens();
        TokenIds.requireInVocabulary(ids, model.vocabSize(), "tokens", "tokens");
        return encoder.detokenized(model.requireTokenizer("detokenization").decode(ids, false));
    }

    private static byte[] json(ObjectNode node) {
        try {
            return JSON.writeValueAsBytes(node);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private byte[] metrics() {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            PrometheusTextFormatWriter.create().write(out, registry.scrape());
            return out.toByteArray();
        } catch (IOException e) {
            throw OpenAiException.internal("cannot write metrics: " + e.getMessage());
        }
    }
}
