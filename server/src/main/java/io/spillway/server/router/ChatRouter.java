package io.spillway.server.router;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.server.api.ChatAugmenter;
import io.spillway.server.api.Generations;
import io.spillway.server.api.OpenAiException;
import io.spillway.server.api.Params;
import io.spillway.server.api.ServedModel;
import io.spillway.server.config.ServerConfig;
import io.spillway.server.http.Exchange;
import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.services.bedrockruntime.model.ContentBlock;
import software.amazon.awssdk.services.bedrockruntime.model.ConverseRequest;
import software.amazon.awssdk.services.bedrockruntime.model.ConverseResponse;
import software.amazon.awssdk.services.bedrockruntime.model.ConverseStreamRequest;
import software.amazon.awssdk.services.bedrockruntime.model.ConverseStreamResponseHandler;
import software.amazon.awssdk.services.bedrockruntime.model.TokenUsage;

/**
 * Routes each chat completion to the local engine or to Bedrock.
 *
 * <p>Policy, in order: a {@code "route": "local-only"} request (private data) is always local;
 * a model only on Bedrock goes there; a model without a Bedrock counterpart, a request using
 * what Converse cannot express, a retrieval request (its passages are private data) or a
 * disabled or open-circuited Bedrock stays local; otherwise the request spills when the
 * engine's estimated queue wait exceeds the time-to-first-token target, or when the engine
 * refuses it as overloaded. The route shows in the {@code x-spillway-route} header, a
 * {@code route} field of the response, and metrics.
 */
public final class ChatRouter implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ChatRouter.class);
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    public static final String ROUTE_HEADER = "x-spillway-route";
    /**
     * The local engine's refusals that send a spillable request to Bedrock: a full queue, a
     * predicted wait over the target, or a withdrawal from the queue when the wait ran over.
     */
    private static final java.util.Set<String> REFUSALS = java.util.Set.of("overloaded", "queue_wait", "queue_deadline");

    private final ServedModel local;
    private final Generations generations;
    private final Map<String, ServerConfig.ModelRoute> models = new LinkedHashMap<>();
    private final ServerConfig.Router config;
    private final Optional<BedrockGateway> bedrock;
    private final RouterMetrics metrics;
    private final Clock clock;
    /** Typical time from calling ConverseStream to its first content, learnt (EWMA); 0 until known. */
    private volatile double bedrockFirstTokenSeconds;

    public ChatRouter(ServedModel local, Generations generations, ServerConfig.Router config, Optional<BedrockGateway> bedrock,
                      PrometheusRegistry registry, Clock clock) {
        this.local = local;
        this.generations = generations;
        this.config = config;
        this.bedrock = bedrock;
        this.metrics = new RouterMetrics(registry);
        this.clock = clock;
        models.put(local.name(), new ServerConfig.ModelRoute(local.name(), true, "", 0, 0));
        for (ServerConfig.ModelRoute m : config.models()) {
            if (m.local() && !m.name().equals(local.name())) {
                // A second local name is an alias of the one local model.
                LOG.info("router: '{}' is served by the local model {}", m.name(), local.name());
            }
            models.put(m.name(), m);
        }
        if (bedrock.isEmpty() && models.values().stream().anyMatch(ServerConfig.ModelRoute::onBedrock)) {
            throw new IllegalStateException("router.models names Bedrock models but no Bedrock client was configured");
        }
    }

    /** Model names this router serves besides the local model (for /v1/models). */
    public List<ServerConfig.ModelRoute> models() {
        return List.copyOf(models.values());
    }

    public boolean serves(String name) {
        return models.containsKey(name);
    }

    /** Decides without side effects (also used by tests and the dashboard). */
    public RouteDecision decide(ServerConfig.ModelRoute model, Params p, boolean retrieval) {
        String requested = p.string("route", "auto");
        if (!requested.equals("auto") && !requested.equals("local-only")) {
            throw OpenAiException.invalid("Invalid 'route': expected 'auto' or 'local-only', got '" + requested + "'.", "route");
        }
        boolean localOnly = requested.equals("local-only");
        if (!model.local()) {
            if (localOnly) {
                throw OpenAiException.invalid("Model '" + model.name() + "' is served only by Amazon Bedrock, and this request is"
                        + " local-only.", "route");
            }
            return RouteDecision.bedrock("model_not_local");
        }
        if (localOnly) {
            return RouteDecision.local("local_only");
        }
        if (!model.onBedrock() || bedrock.isEmpty()) {
            return RouteDecision.local("no_bedrock_model");
        }
        if (retrieval) {
            return RouteDecision.local("retrieval_stays_local");
        }
        Optional<String> unsupported = ConverseTranslation.unsupported(p);
        if (unsupported.isPresent()) {
            return RouteDecision.local("unsupported_on_bedrock");
        }
        if (!config.spill()) {
            return RouteDecision.local("spill_disabled");
        }
        if (!bedrock.get().available()) {
            return RouteDecision.local("bedrock_unavailable");
        }
        if (local.engine().estimatedQueueWaitSeconds() * 1000 > config.ttftTargetMs()) {
            return RouteDecision.bedrock("queue_wait");
        }
        return RouteDecision.local("capacity");
    }

    /**
     * Serves one chat completion. {@code augmenter} is retrieval (RAG), or null;
     * {@code messagesOf} normalizes the request's messages.
     */
    public void chat(Exchange ex, Params p, String salt, ChatAugmenter augmenter, Function<Params, List<Object>> messagesOf) {
        String name = p.requiredString("model");
        ServerConfig.ModelRoute model = models.get(name);
        if (model == null) {
            throw OpenAiException.modelNotFound(name);
        }
        RouteDecision decision = decide(model, p, augmenter != null);
        ex.onEnd(() -> countUsage(ex, model));
        if (decision.route() == RouteDecision.Route.LOCAL) {
            boolean canSpill = decision.reason().equals("capacity");
            double budget = localQueueBudgetSeconds(ex);
            try {
                if (canSpill && budget <= 0) {
                    throw new OpenAiException(503, "server_error", "no time left for the local queue", null, "queue_wait", 1);
                }
                serveLocally(ex, p, salt, augmenter, canSpill ? budget : 0);
                return;
            } catch (OpenAiException e) {
                boolean refused = e.status() == 503 && REFUSALS.contains(e.code());
                if (!refused || !canSpill || !bedrock.get().available()) {
                    throw e;
                }
                decision = RouteDecision.bedrock(e.code());
            }
        }
        serveOnBedrock(ex, p, model, decision, messagesOf.apply(p));
    }

    /** Tokens and cost per route, once the exchange is over (streams and bodies alike, delivered or not). */
    private void countUsage(Exchange ex, ServerConfig.ModelRoute model) {
        Exchange.Usage u = ex.usage();
        String route = ex.responseHeader(ROUTE_HEADER);
        if (u == null || route == null) {
            return;
        }
        metrics.tokens.labelValues(route, "prompt").inc(u.promptTokens());
        metrics.tokens.labelValues(route, "completion").inc(u.completionTokens());
        metrics.costDollars.labelValues(route, model.name()).inc(cost(model, u.promptTokens(), u.completionTokens()));
    }

    /** What a request costs at the model's listed prices (the same table for both routes, so budgets see one price). */
    public static double cost(ServerConfig.ModelRoute model, int promptTokens, int completionTokens) {
        return promptTokens / 1000.0 * model.inputPricePer1k() + completionTokens / 1000.0 * model.outputPricePer1k();
    }

    /** The model entry clients name, or empty. */
    public Optional<ServerConfig.ModelRoute> model(String name) {
        return Optional.ofNullable(models.get(name));
    }

    /**
     * How long a spillable request may wait in the local queue: the TTFT target, less the time
     * it has already spent in this process (parsing, templating, waiting for a thread), less what
     * Bedrock typically takes to a first token, so that a request withdrawn from the queue at the
     * end of it still meets the target on Bedrock. Bedrock's share is capped at half the target:
     * a Bedrock slower than that cannot rescue the target, and local capacity should not idle.
     */
    private double localQueueBudgetSeconds(Exchange ex) {
        double target = config.ttftTargetMs() / 1000.0;
        double spent = (System.nanoTime() - ex.arrivalNanos()) / 1e9;
        return target - spent - Math.min(bedrockFirstTokenSeconds, target / 2);
    }

    private void learnBedrockFirstToken(double seconds) {
        double current = bedrockFirstTokenSeconds;
        bedrockFirstTokenSeconds = current == 0 ? seconds : 0.2 * seconds + 0.8 * current;
    }

    private void serveLocally(Exchange ex, Params p, String salt, ChatAugmenter augmenter, double maxQueueWaitSeconds) {
        ex.addResponseHeader(ROUTE_HEADER, "local");
        ObjectNode extras = F.objectNode().put("route", "local");
        generations.chat(ex, local, p, salt, augmenter, extras, maxQueueWaitSeconds);
        metrics.requests.labelValues("local").inc();
    }

    private void serveOnBedrock(Exchange ex, Params p, ServerConfig.ModelRoute model, RouteDecision decision, List<Object> messages) {
        BedrockGateway gateway = bedrock.orElseThrow();
        ConverseTranslation.Translated t = ConverseTranslation.request(p, messages);
        metrics.spills.labelValues(decision.reason()).inc();
        metrics.requests.labelValues("bedrock").inc();
        ex.addResponseHeader(ROUTE_HEADER, "bedrock");
        String id = "chatcmpl-" + UUID.randomUUID().toString().replace("-", "");
        long created = clock.instant().getEpochSecond();
        boolean stream = p.bool("stream", false);
        if (!stream) {
            ConverseResponse r;
            try {
                r = gateway.converse(ConverseRequest.builder().modelId(model.bedrockModelId()).system(t.system())
                        .messages(t.messages()).inferenceConfig(t.inference()).build());
            } catch (BedrockGateway.BedrockException e) {
                throw failure(e);
            }
            StringBuilder text = new StringBuilder();
            for (ContentBlock b : r.output().message().content()) {
                if (b.text() != null) {
                    text.append(b.text());
                }
            }
            ObjectNode root = envelope(id, created, model.name(), false);
            ObjectNode choice = root.putArray("choices").addObject();
            choice.put("index", 0);
            ObjectNode message = choice.putObject("message");
            message.put("role", "assistant");
            message.put("content", text.toString());
            message.putNull("refusal");
            choice.putNull("logprobs");
            choice.put("finish_reason", ConverseTranslation.finishReason(r.stopReason()));
            root.set("usage", usage(ex, model, r.usage()));
            ex.json(200, root);
            return;
        }
        boolean includeUsage = p.has("stream_options") && p.object("stream_options").path("include_usage").asBoolean(false);
        BedrockStream listener = new BedrockStream(ex, id, created, model, includeUsage, System.nanoTime());
        java.util.concurrent.CompletableFuture<Void> call = gateway.converseStream(ConverseStreamRequest.builder()
                .modelId(model.bedrockModelId()).system(t.system()).messages(t.messages()).inferenceConfig(t.inference()).build(), listener);
        call.exceptionally(e -> null);
        ex.onClose(() -> call.cancel(true));
        listener.awaitStartOrFailure();
    }

    private OpenAiException failure(BedrockGateway.BedrockException e) {
        metrics.bedrockFailures.inc();
        if (e.clientError()) {
            return OpenAiException.invalid("Amazon Bedrock refused the request: " + e.getMessage(), null);
        }
        return OpenAiException.overloaded("The local engine is saturated and Amazon Bedrock is failing (" + e.getMessage()
                + "). Retry shortly.", 5);
    }

    private static ObjectNode envelope(String id, long created, String model, boolean chunk) {
        ObjectNode o = F.objectNode();
        o.put("id", id);
        o.put("object", chunk ? "chat.completion.chunk" : "chat.completion");
        o.put("created", created);
        o.put("model", model);
        o.put("route", "bedrock");
        return o;
    }

    private ObjectNode usage(Exchange ex, ServerConfig.ModelRoute model, TokenUsage u) {
        int in = u == null || u.inputTokens() == null ? 0 : u.inputTokens();
        int out = u == null || u.outputTokens() == null ? 0 : u.outputTokens();
        double cost = cost(model, in, out);
        ex.reportUsage(in, out);
        ObjectNode usage = F.objectNode();
        usage.put("prompt_tokens", in);
        usage.put("completion_tokens", out);
        usage.put("total_tokens", in + out);
        usage.put("cost_usd", cost);
        return usage;
    }

    /** ConverseStream events turned into OpenAI chunks on the exchange's event loop. */
    private final class BedrockStream implements BedrockGateway.StreamListener {
        private final Exchange ex;
        private final String id;
        private final long created;
        private final ServerConfig.ModelRoute model;
        private final boolean includeUsage;
        private final java.util.concurrent.CompletableFuture<Void> startedOrFailed = new java.util.concurrent.CompletableFuture<>();
        private Exchange.SseStream sse;
        private String finishReason = "stop";
        private volatile BedrockGateway.BedrockException failedBeforeStart;
        private final long calledNanos;
        private boolean firstContent = true;

        BedrockStream(Exchange ex, String id, long created, ServerConfig.ModelRoute model, boolean includeUsage, long calledNanos) {
            this.calledNanos = calledNanos;
            this.ex = ex;
            this.id = id;
            this.created = created;
            this.model = model;
            this.includeUsage = includeUsage;
        }

        /** Blocks the handler until Bedrock answers: failures before the stream starts become HTTP errors. */
        void awaitStartOrFailure() {
            startedOrFailed.join();
            if (failedBeforeStart != null) {
                throw failure(failedBeforeStart);
            }
        }

        @Override
        public void onStart() {
            ex.eventLoop().execute(() -> {
                sse = ex.openSse(Map.of());
                ObjectNode first = chunk();
                ObjectNode delta = ((ObjectNode) first.get("choices").get(0)).putObject("delta");
                delta.put("role", "assistant");
                delta.put("content", "");
                sse.send(first.toString());
            });
            startedOrFailed.complete(null);
        }

        private ObjectNode chunk() {
            ObjectNode root = envelope(id, created, model.name(), true);
            ObjectNode choice = root.putArray("choices").addObject();
            choice.put("index", 0);
            choice.putNull("finish_reason");
            if (includeUsage) {
                root.putNull("usage");
            }
            return root;
        }

        @Override
        public ConverseStreamResponseHandler.Visitor visitor() {
            return ConverseStreamResponseHandler.Visitor.builder()
                    .onContentBlockDelta(e -> {
                        String text = e.delta() == null ? null : e.delta().text();
                        if (text != null && !text.isEmpty()) {
                            if (firstContent) {
                                firstContent = false;
                                learnBedrockFirstToken((System.nanoTime() - calledNanos) / 1e9);
                            }
                            ex.eventLoop().execute(() -> {
                                ObjectNode c = chunk();
                                ((ObjectNode) c.get("choices").get(0)).putObject("delta").put("content", text);
                                sse.send(c.toString());
                            });
                        }
                    })
                    .onMessageStop(e -> finishReason = ConverseTranslation.finishReason(e.stopReason()))
                    .onMetadata(e -> {
                        ObjectNode u = usage(ex, model, e.usage());
                        ex.eventLoop().execute(() -> {
                            ObjectNode last = chunk();
                            ObjectNode choice = (ObjectNode) last.get("choices").get(0);
                            choice.putObject("delta");
                            choice.put("finish_reason", finishReason);
                            sse.send(last.toString());
                            if (includeUsage) {
                                ObjectNode usageChunk = envelope(id, created, model.name(), true);
                                usageChunk.putArray("choices");
                                usageChunk.set("usage", u);
                                sse.send(usageChunk.toString());
                            }
                        });
                    })
                    .build();
        }

        @Override
        public void onComplete() {
            ex.eventLoop().execute(() -> {
                sse.send("[DONE]");
                sse.end();
            });
        }

        @Override
        public void onError(BedrockGateway.BedrockException e) {
            if (!startedOrFailed.isDone()) {
                failedBeforeStart = e;
                startedOrFailed.complete(null);
                return;
            }
            metrics.bedrockFailures.inc();
            ex.eventLoop().execute(() -> {
                if (sse == null) {
                    ex.error(failure(e));
                    return;
                }
                sse.send(OpenAiException.internal("Amazon Bedrock failed mid-stream: " + e.getMessage()).toJson().toString());
                sse.send("[DONE]");
                sse.end();
            });
        }
    }

    @Override
    public void close() {
        bedrock.ifPresent(BedrockGateway::close);
    }
}
