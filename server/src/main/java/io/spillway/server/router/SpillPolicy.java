package io.spillway.server.router;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.server.config.ServerConfig;
import io.spillway.server.generation.ForwardingGeneration;
import io.spillway.server.generation.Generation;
import io.spillway.server.generation.GenerationEvent;
import io.spillway.server.generation.GenerationRequest;
import io.spillway.server.generation.PiiOnSpill;
import io.spillway.server.generation.Generator;
import io.spillway.server.generation.Refusal;
import io.spillway.server.generation.Route;
import io.spillway.server.generation.RoutedFailure;
import io.spillway.server.generation.Start;
import io.spillway.server.platform.safety.PiiType;
import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.OpenAiException;
import io.spillway.server.wire.RoutePreference;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.DoubleSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends each request to the local engine or to Bedrock.
 *
 * <p>Policy, in order: a local-only request (the request says {@code "route": "local-only"}, or
 * its key is local-only) is always local; a model only on Bedrock goes there; a model without a
 * Bedrock counterpart, a request Converse cannot express, a retrieval request (its passages are
 * private data) or a disabled or open-circuited Bedrock stays local; otherwise the request spills
 * when the engine's estimated queue wait exceeds the time-to-first-token target, or when the
 * engine refuses it (queue full, expected wait too long, withdrawn from the queue at its
 * deadline). Legacy completions are served locally only. Each answer's usage is priced from the
 * model's table, for every route.
 *
 * <p>What a spilled request carries is the caller's {@link PiiOnSpill} policy's ({@link PrivateSpill}):
 * under {@code local-only} a conversation holding personal data is served as a local-only one
 * (and refused, naming the types found, by a model only Bedrock serves). Every answer's Started
 * says why it runs where it does.
 */
public final class SpillPolicy implements Generator {

    private static final Logger LOG = LoggerFactory.getLogger(SpillPolicy.class);

    private final Generator local;
    private final DoubleSupplier estimatedQueueWaitSeconds;
    private final Map<String, ServerConfig.ModelRoute> models = new LinkedHashMap<>();
    private final ServerConfig.Router config;
    private final Optional<SpillTarget> bedrock;
    private final RouterMetrics metrics;
    private final PrivateSpill privacy;

    /**
     * @param localModel the local model's name (always served locally)
     * @param estimatedQueueWaitSeconds the engine's estimate for a request arriving now
     */
    public SpillPolicy(Generator local, String localModel, DoubleSupplier estimatedQueueWaitSeconds, ServerConfig.Router config,
                       Optional<SpillTarget> bedrock, Set<PiiType> piiTypes, PrometheusRegistry registry) {
        this.local = local;
        this.privacy = new PrivateSpill(piiTypes, config.piiPolicy());
        this.estimatedQueueWaitSeconds = estimatedQueueWaitSeconds;
        this.config = config;
        this.metrics = new RouterMetrics(registry);
        models.put(localModel, new ServerConfig.ModelRoute(localModel, true, "", 0, 0));
        for (ServerConfig.ModelRoute m : config.models()) {
            if (m.local() && !m.name().equals(localModel)) {
                // A second local name is an alias of the one local model.
                LOG.info("router: '{}' is served by the local model {}", m.name(), localModel);
            }
            models.put(m.name(), m);
        }
        if (bedrock.isEmpty() && models.values().stream().anyMatch(ServerConfig.ModelRoute::onBedrock)) {
            throw new IllegalStateException("router.models names Bedrock models but no Bedrock client was configured");
        }
        this.bedrock = bedrock;
    }

    /** Every model name served, the local model's first (for /v1/models). */
    public List<ServerConfig.ModelRoute> models() {
        return List.copyOf(models.values());
    }

    public Optional<ServerConfig.ModelRoute> model(String name) {
        return Optional.ofNullable(models.get(name));
    }

    /** Where one request goes and why (the reason is a metric label). */
    record Decision(Route route, String reason) {
    }

    @Override
    public Start start(GenerationRequest request) {
        ServerConfig.ModelRoute model = models.get(request.model());
        if (model == null || (request.chat().isEmpty() && !model.local())) {
            throw OpenAiException.modelNotFound(request.model());
        }
        Decision decision = decide(model, request);
        if (decision.route() == Route.LOCAL) {
            boolean canSpill = decision.reason().equals("capacity");
            double budget = localQueueBudgetSeconds(request);
            if (!canSpill) {
                return local(request, model, decision.reason());
            }
            if (budget > 0) {
                Start start = local.start(request.withMaxQueueWait(budget));
                if (start instanceof Start.Accepted accepted) {
                    metrics.requests.labelValues(Route.LOCAL.wireName()).inc();
                    return new Start.Accepted(priced(accepted.generation(), model, List.of(decision.reason())));
                }
                Refusal refusal = ((Start.Refused) start).refusal();
                if (!bedrock.get().available()) {
                    return new Start.Refused(refusal, List.of("bedrock_unavailable"));
                }
                decision = new Decision(Route.BEDROCK, reason(refusal));
            } else {
                decision = new Decision(Route.BEDROCK, "queue_wait");
            }
        }
        PrivateSpill.Outbound outbound = privacy.outbound(request, privacy.policyOf(request.caller()));
        metrics.spills.labelValues(decision.reason()).inc();
        List<String> reasons = new java.util.ArrayList<>(List.of(decision.reason()));
        outbound.reason().ifPresent(reasons::add);
        Start start;
        try {
            start = bedrock.orElseThrow().start(outbound.request());
        } catch (RoutedFailure e) {
            throw e.withRouteReasons(reasons);
        }
        metrics.requests.labelValues(Route.BEDROCK.wireName()).inc();
        return start instanceof Start.Accepted accepted
                ? new Start.Accepted(priced(outbound.answer().apply(accepted.generation()), model, reasons)) : start;
    }

    private Start local(GenerationRequest request, ServerConfig.ModelRoute model, String reason) {
        Start start = local.start(request);
        if (start instanceof Start.Accepted accepted) {
            metrics.requests.labelValues(Route.LOCAL.wireName()).inc();
            return new Start.Accepted(priced(accepted.generation(), model, List.of(reason)));
        }
        return new Start.Refused(((Start.Refused) start).refusal(), List.of(reason));
    }

    /** Decides without side effects. */
    Decision decide(ServerConfig.ModelRoute model, GenerationRequest request) {
        if (request.chat().isEmpty()) {
            return new Decision(Route.LOCAL, "completions_are_local");
        }
        ChatRequest chat = request.chat().get();
        boolean localOnly = chat.route() == RoutePreference.LOCAL_ONLY || request.caller().policy().localOnly();
        Optional<ConverseTranslation.Inexpressible> inexpressible = ConverseTranslation.inexpressible(chat);
        if (!model.local()) {
            if (localOnly) {
                throw OpenAiException.invalid("Model '" + model.name() + "' is served only by Amazon Bedrock, and this request is"
                        + " local-only.", "route");
            }
            if (inexpressible.isPresent()) {
                throw OpenAiException.invalid("Model '" + model.name() + "' runs on Amazon Bedrock, which cannot serve this request: "
                        + inexpressible.get().reason(), inexpressible.get().param());
            }
            if (privacy.policyOf(request.caller()) == PiiOnSpill.LOCAL_ONLY) {
                Set<String> found = privacy.typesIn(chat);
                if (!found.isEmpty()) {
                    throw OpenAiException.invalid("Model '" + model.name() + "' is served only by Amazon Bedrock, and this conversation"
                            + " holds personal data (" + String.join(", ", found) + ") that this key's pii-on-spill policy keeps"
                            + " on this server. Use a local model, or remove the data.", "messages", "pii_requires_local");
                }
            }
            return new Decision(Route.BEDROCK, "model_not_local");
        }
        if (localOnly) {
            return new Decision(Route.LOCAL, "local_only");
        }
        if (!model.onBedrock() || bedrock.isEmpty()) {
            return new Decision(Route.LOCAL, "no_bedrock_model");
        }
        if (chat.retrieval().isPresent()) {
            return new Decision(Route.LOCAL, "retrieval_stays_local");
        }
        if (inexpressible.isPresent()) {
            return new Decision(Route.LOCAL, "unsupported_on_bedrock");
        }
        if (!config.spill()) {
            return new Decision(Route.LOCAL, "spill_disabled");
        }
        if (!bedrock.get().available()) {
            return new Decision(Route.LOCAL, "bedrock_unavailable");
        }
        if (privacy.policyOf(request.caller()) == PiiOnSpill.LOCAL_ONLY && !privacy.typesIn(chat).isEmpty()) {
            return new Decision(Route.LOCAL, "pii_local_only");
        }
        if (estimatedQueueWaitSeconds.getAsDouble() * 1000 > config.ttftTargetMs()) {
            return new Decision(Route.BEDROCK, "queue_wait");
        }
        return new Decision(Route.LOCAL, "capacity");
    }

    /** The spill reason a local refusal becomes (the same words as the 503 it would otherwise be). */
    private static String reason(Refusal refusal) {
        return switch (refusal) {
            case Refusal.QueueFull q -> "overloaded";
            case Refusal.WaitTooLong w -> "queue_wait";
            case Refusal.DeadlinePassed d -> "queue_deadline";
            case Refusal.Unavailable u -> "local_unavailable";
        };
    }

    /**
     * How long a spillable request may wait in the local queue: the TTFT target, less the time
     * it has already spent in this process (parsing, templating, waiting for a thread), less what
     * Bedrock typically takes to a first token, so that a request withdrawn from the queue at the
     * end of it still meets the target on Bedrock. Bedrock's share is capped at half the target:
     * a Bedrock slower than that cannot rescue the target, and local capacity should not idle.
     */
    private double localQueueBudgetSeconds(GenerationRequest request) {
        double target = config.ttftTargetMs() / 1000.0;
        double spent = (System.nanoTime() - request.arrivalNanos()) / 1e9;
        double bedrockShare = bedrock.map(SpillTarget::typicalFirstTokenSeconds).orElse(0.0);
        return target - spent - Math.min(bedrockShare, target / 2);
    }

    /** What a request costs at the model's listed prices (one table for both routes, so budgets see one price). */
    static double cost(ServerConfig.ModelRoute model, int promptTokens, int completionTokens) {
        return promptTokens / 1000.0 * model.inputPricePer1k() + completionTokens / 1000.0 * model.outputPricePer1k();
    }

    /** The generation with its usage priced, tokens and cost counted per route, and the reasons for its route on its Started. */
    private Generation priced(Generation generation, ServerConfig.ModelRoute model, List<String> reasons) {
        return new ForwardingGeneration(generation) {
            private Route route = Route.LOCAL;

            @Override
            protected void onEvent(GenerationEvent event, Consumer<GenerationEvent> downstream) {
                if (event instanceof GenerationEvent.Started s) {
                    route = s.route();
                    event = s.withRouteReasons(reasons);
                } else if (event instanceof GenerationEvent.Completed c) {
                    double dollars = cost(model, c.usage().promptTokens(), c.usage().completionTokens());
                    metrics.tokens.labelValues(route.wireName(), "prompt").inc(c.usage().promptTokens());
                    metrics.tokens.labelValues(route.wireName(), "completion").inc(c.usage().completionTokens());
                    metrics.costDollars.labelValues(route.wireName(), model.name()).inc(dollars);
                    event = new GenerationEvent.Completed(c.usage().withCost(dollars));
                }
                downstream.accept(event);
            }
        };
    }
}
