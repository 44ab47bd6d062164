package io.spillway.server.platform.audit;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.server.generation.CacheOutcome;
import io.spillway.server.generation.ForwardingGeneration;
import io.spillway.server.generation.GenerationEvent;
import io.spillway.server.generation.GenerationRequest;
import io.spillway.server.generation.Generator;
import io.spillway.server.generation.PolicyViolation;
import io.spillway.server.generation.RoutedFailure;
import io.spillway.server.generation.Start;
import io.spillway.server.wire.OpenAiException;
import io.spillway.server.wire.Usage;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * One audit record per generation request, however it ends: refused (the status it was refused
 * with), failed, abandoned by its client before the end (499, as nginx counts it), or answered
 * (200, also when the server ended it early, shutting down: the client got a complete stream). The record says who asked, where it
 * ran and why, the hash of what was sent to Bedrock, whether a cache answered, the tokens, the cost, what the safety filters found (types and
 * counts only) and, when the caller's policy keeps prompts, the prompt after redaction.
 */
public final class AuditStage implements Generator {

    /** The status of an answer whose client went away before it was complete. */
    static final int CLIENT_CLOSED = 499;

    private final Generator inner;
    private final AuditLog log;
    private final Clock clock;
    private final Counter records;

    public AuditStage(Generator inner, AuditLog log, Clock clock, PrometheusRegistry registry) {
        this.inner = inner;
        this.log = log;
        this.clock = clock;
        this.records = Counter.builder().name("spillway_audit_records_total").help("Lines appended to the audit log").register(registry);
    }

    @Override
    public Start start(GenerationRequest request) {
        Entry entry = new Entry(request, System.nanoTime());
        Start start;
        try {
            start = inner.start(request);
        } catch (PolicyViolation e) {
            entry.input = e.findings();
            entry.write(e.status(), true);
            throw e;
        } catch (RoutedFailure e) {
            entry.route = e.route().wireName();
            entry.routeReasons = e.routeReasons();
            entry.sentSha256 = e.sentSha256().orElse(null);
            entry.write(e.status(), true);
            throw e;
        } catch (OpenAiException e) {
            entry.write(e.status(), true);
            throw e;
        } catch (RuntimeException e) {
            entry.write(500, true);
            throw e;
        }
        if (start instanceof Start.Refused refused) {
            entry.routeReasons = refused.routeReasons();
            entry.write(503, true);
            return start;
        }
        return new Start.Accepted(new ForwardingGeneration(((Start.Accepted) start).generation()) {
            @Override
            protected void onEvent(GenerationEvent event, Consumer<GenerationEvent> downstream) {
                entry.see(event);
                downstream.accept(event);
            }

            @Override
            public void cancel() {
                entry.abandoned = true;
                super.cancel();
            }
        });
    }

    /** The record of one request, filled in from its events. */
    private final class Entry {
        private final GenerationRequest request;
        private final long startNanos;
        private String route = "none";
        private List<String> routeReasons = List.of();
        private String sentSha256;
        private CacheOutcome cache = CacheOutcome.BYPASS;
        private Map<String, Integer> input = Map.of();
        private Map<String, Integer> output = Map.of();
        private Optional<String> prompt = Optional.empty();
        private final Map<String, Integer> toolCalls = new java.util.TreeMap<>();
        /** The caller cancelled it: its client went away. */
        private volatile boolean abandoned;

        Entry(GenerationRequest request, long startNanos) {
            this.request = request;
            this.startNanos = startNanos;
        }

        void see(GenerationEvent event) {
            switch (event) {
                case GenerationEvent.Started s -> {
                    route = s.route().wireName();
                    routeReasons = s.routeReasons();
                    sentSha256 = s.sentSha256().orElse(null);
                    cache = s.cache();
                }
                case GenerationEvent.ToolCallDelta t -> t.name().ifPresent(name -> toolCalls.merge(name, 1, Integer::sum));
                case GenerationEvent.Screened s -> {
                    input = s.input();
                    output = s.output();
                    prompt = s.loggablePrompt();
                }
                case GenerationEvent.Completed c -> write(abandoned ? CLIENT_CLOSED : 200, c.usage(), false);
                case GenerationEvent.Failed f -> write(request.body().delivery().stream() ? 200 : f.error().status(), Usage.NONE, true);
                default -> {
                }
            }
        }

        void write(int status, boolean error) {
            write(status, Usage.NONE, error);
        }

        private void write(int status, Usage usage, boolean error) {
            double cost = cache.reused() ? 0 : usage.costUsd();
            log.append(new AuditRecord(request.id(), clock.instant().toString(), request.caller().keyId(), request.caller().tenant(),
                    request.body().endpoint(), request.model(), route, routeReasons, cache.id(), usage.promptTokens(), usage.completionTokens(),
                    cost, input, output, toolCalls, status, error ? "error" : null, (System.nanoTime() - startNanos) / 1e9,
                    prompt.orElse(null), sentSha256));
            records.inc();
        }
    }
}
