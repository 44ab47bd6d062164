package io.spillway.server.platform.cache;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.server.generation.CacheOutcome;
import io.spillway.server.generation.ForwardingGeneration;
import io.spillway.server.generation.Generation;
import io.spillway.server.generation.GenerationEvent;
import io.spillway.server.generation.GenerationRequest;
import io.spillway.server.generation.Generator;
import io.spillway.server.generation.Start;
import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.CompletionRequest;
import io.spillway.server.wire.GenerationBody;
import java.util.Optional;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The caching levels of our design notes, in order: the exact cache (deterministic requests:
 * temperature 0 or a seed), the semantic cache (a near-identical earlier prompt's answer, for
 * callers that opt in), then identical requests in flight run once. What runs is recorded, and a
 * complete answer is stored for the next caller.
 */
public final class CacheStage implements Generator {

    private static final Logger LOG = LoggerFactory.getLogger(CacheStage.class);

    private final Generator inner;
    private final Optional<ResponseCache> exact;
    private final Optional<SemanticCache> semantic;
    private final boolean dedup;
    private final InFlightRequests inFlight = new InFlightRequests();
    private final Counter results;
    private final Counter followers;

    public CacheStage(Generator inner, Optional<ResponseCache> exact, Optional<SemanticCache> semantic, boolean dedup,
                      PrometheusRegistry registry) {
        this.inner = inner;
        this.exact = exact;
        this.semantic = semantic;
        this.dedup = dedup;
        this.results = Counter.builder().name("spillway_cache_requests_total")
                .help("Completion requests by cache result: hit (exact), semantic, miss, or bypass (not cacheable)")
                .labelNames("result").register(registry);
        this.followers = Counter.builder().name("spillway_dedup_followers_total")
                .help("Requests served by following an identical request in flight instead of running").register(registry);
    }

    @Override
    public Start start(GenerationRequest request) {
        GenerationBody body = request.body();
        String scope = request.caller().cacheScope();
        String exactKey = exact.isPresent() && cacheable(body) ? CacheKeys.exact(body, scope) : null;
        if (exactKey != null) {
            Optional<StoredCompletion> hit = exact.get().get(exactKey);
            if (hit.isPresent()) {
                results.labelValues(CacheOutcome.HIT.id()).inc();
                return new Start.Accepted(hit.get().replay(CacheOutcome.HIT));
            }
        }
        boolean semanticWanted = semantic.isPresent() && body instanceof ChatRequest chat && chat.retrieval().isEmpty()
                && body.delivery().semanticCache().orElse(request.caller().policy().semanticCache());
        String partition = null;
        float[] vector = null;
        if (semanticWanted) {
            partition = CacheKeys.partition(body, scope);
            vector = semantic.get().embed(body.promptText());
            Optional<SemanticCache.Hit> hit = semantic.get().lookup(partition, vector);
            if (hit.isPresent()) {
                results.labelValues(CacheOutcome.SEMANTIC.id()).inc();
                return new Start.Accepted(hit.get().body().replay(CacheOutcome.SEMANTIC));
            }
        }
        SharedGeneration shared = null;
        if (exactKey != null && dedup) {
            SharedGeneration mine = new SharedGeneration();
            SharedGeneration leader = inFlight.joinOrLead(exactKey, mine);
            if (leader != null) {
                followers.inc();
                results.labelValues(CacheOutcome.HIT.id()).inc();
                return new Start.Accepted(leader.follow());
            }
            shared = mine;
        }
        CacheOutcome outcome = exactKey != null || semanticWanted ? CacheOutcome.MISS : CacheOutcome.BYPASS;
        results.labelValues(outcome.id()).inc();
        Start start;
        try {
            start = inner.start(request);
        } catch (RuntimeException e) {
            if (shared != null) {
                inFlight.finish(exactKey, shared);
            }
            throw e;
        }
        if (!(start instanceof Start.Accepted accepted)) {
            if (shared != null) {
                inFlight.finish(exactKey, shared);
            }
            return start;
        }
        Generation generation = accepted.generation();
        if (shared != null) {
            SharedGeneration leading = shared;
            generation = shared.lead(generation, () -> inFlight.finish(exactKey, leading));
        }
        if (outcome == CacheOutcome.BYPASS) {
            return new Start.Accepted(generation);
        }
        return new Start.Accepted(recorded(generation, outcome, exactKey, partition, vector));
    }

    /** Answers worth keeping: the same request always gets the same answer, and nothing per-token was asked for. */
    private static boolean cacheable(GenerationBody body) {
        boolean other = switch (body) {
            case ChatRequest c -> c.retrieval().isEmpty();
            case CompletionRequest c -> !c.echo();
        };
        return other && body.options().deterministic() && body.options().logprobs().isEmpty();
    }

    /** The generation reporting {@code outcome}, its answer stored when it completes in full. */
    private Generation recorded(Generation generation, CacheOutcome outcome, String exactKey, String partition, float[] vector) {
        CompletionRecorder recorder = new CompletionRecorder();
        return new ForwardingGeneration(generation) {
            @Override
            protected void onEvent(GenerationEvent event, Consumer<GenerationEvent> downstream) {
                if (event instanceof GenerationEvent.Started s) {
                    event = s.withCache(outcome);
                }
                recorder.record(event);
                if (event instanceof GenerationEvent.Completed c) {
                    // Stored before the caller sees the end, so the caller's next identical request finds it.
                    recorder.completed(c).ifPresent(answer -> store(answer, exactKey, partition, vector));
                }
                downstream.accept(event);
            }
        };
    }

    private void store(StoredCompletion answer, String exactKey, String partition, float[] vector) {
        try {
            if (exactKey != null) {
                exact.get().put(exactKey, answer);
            }
            if (vector != null) {
                semantic.get().store(partition, vector, answer);
            }
        } catch (RuntimeException e) {
            LOG.warn("cache: storing an answer failed", e);
        }
    }
}
