package io.spillway.server.platform.safety;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.server.generation.Generation;
import io.spillway.server.generation.GenerationEvent;
import io.spillway.server.generation.GenerationRequest;
import io.spillway.server.generation.Generator;
import io.spillway.server.generation.PolicyViolation;
import io.spillway.server.generation.RewrittenText;
import io.spillway.server.generation.Start;
import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.CompletionRequest;
import io.spillway.server.wire.GenerationBody;
import io.spillway.server.wire.Message;
import io.spillway.server.wire.Prompt;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * The safety filters around generation, under the caller's policy: every text of the request is
 * filtered before any model sees it (a blocking filter refuses the request), and every choice of
 * the answer is filtered as it streams, never releasing part of a match. What was found (types
 * and counts, never values) is counted and reported in one {@link GenerationEvent.Screened}.
 */
public final class SafetyStage implements Generator {

    private final Generator inner;
    private final SafetyPolicy serverPolicy;
    private final Blocklist blocklist;
    private final Optional<ContentClassifier> classifier;
    private final Counter findings;

    public SafetyStage(Generator inner, SafetyPolicy serverPolicy, Blocklist blocklist, Optional<ContentClassifier> classifier,
                       PrometheusRegistry registry) {
        this.inner = inner;
        this.serverPolicy = serverPolicy;
        this.blocklist = blocklist;
        this.classifier = classifier;
        this.findings = Counter.builder().name("spillway_safety_findings_total")
                .help("Safety filter findings by direction (input, output), type and action")
                .labelNames("direction", "type", "action").register(registry);
    }

    /** The server's policy, with the caller's key's own PII action and prompt logging. */
    SafetyPolicy policyOf(GenerationRequest request) {
        SafetyPolicy p = request.caller().policy().piiAction().map(SafetyAction::parse).map(serverPolicy::withPii).orElse(serverPolicy);
        return request.caller().policy().logPrompts() ? p.withLogPrompts(true) : p;
    }

    @Override
    public Start start(GenerationRequest request) {
        SafetyPolicy policy = policyOf(request);
        TextFilter filter = new TextFilter(policy, blocklist, classifier);
        GenerationRequest filtered = request;
        Map<String, Integer> input = Map.of();
        if (filter.active()) {
            InputScan scan = new InputScan(filter);
            filtered = request.withBody(scan.body(request.body()));
            input = counts(scan.found);
            count("input", scan.found, policy);
            if (scan.blocked) {
                throw new PolicyViolation(input);
            }
        }
        Optional<String> loggable = policy.logPrompts() ? Optional.of(filtered.body().promptText()) : Optional.empty();
        Start start = inner.start(filtered);
        if (!(start instanceof Start.Accepted accepted)) {
            return start;
        }
        return new Start.Accepted(new Screening(accepted.generation(), filter.active() ? filter : null, policy, input, loggable));
    }

    /** Every text a model would read, filtered; what was found, and whether a blocking filter fired. */
    private static final class InputScan {
        private final TextFilter filter;
        private final List<Finding> found = new ArrayList<>();
        private boolean blocked;

        InputScan(TextFilter filter) {
            this.filter = filter;
        }

        GenerationBody body(GenerationBody body) {
            return switch (body) {
                case ChatRequest c -> c.withMessages(c.messages().stream().map(m -> m.withContent(text(m.content()))).toList());
                case CompletionRequest c -> c.withPrompts(c.prompts().stream()
                        .map(p -> p instanceof Prompt.Text t ? (Prompt) new Prompt.Text(text(t.text())) : p).toList());
            };
        }

        private String text(String text) {
            TextFilter.Result r = filter.apply(text);
            found.addAll(r.findings());
            blocked |= r.blocked();
            return r.text();
        }
    }

    /**
     * The answer filtered choice by choice and part by part (its content, its reasoning, each tool
     * call's arguments: a card number is redacted wherever it appears); one Screened event just
     * before the end.
     */
    private final class Screening extends RewrittenText {
        private final SafetyPolicy policy;
        private final Map<String, Integer> input;
        private final Optional<String> loggablePrompt;

        Screening(Generation inner, TextFilter filter, SafetyPolicy policy, Map<String, Integer> input, Optional<String> loggablePrompt) {
            super(inner, part -> filter == null ? UNFILTERED : new StreamRedactor(filter));
            this.policy = policy;
            this.input = input;
            this.loggablePrompt = loggablePrompt;
        }

        @Override
        protected void onEvent(GenerationEvent event, Consumer<GenerationEvent> downstream) {
            if (event.terminal()) {
                List<Finding> output = new ArrayList<>();
                for (RewrittenText.Rewriter r : rewriters()) {
                    if (r instanceof StreamRedactor redactor) {
                        output.addAll(redactor.findings());
                    }
                }
                count("output", output, policy);
                downstream.accept(new GenerationEvent.Screened(input, counts(output), loggablePrompt));
            }
            super.onEvent(event, downstream);
        }
    }

    /** The answer as it comes, where no filter runs. */
    private static final RewrittenText.Rewriter UNFILTERED = new RewrittenText.Rewriter() {
        @Override
        public String add(String piece) {
            return piece;
        }

        @Override
        public String flush() {
            return "";
        }
    };

    private void count(String direction, List<Finding> found, SafetyPolicy policy) {
        for (Finding f : found) {
            SafetyAction action = f.type().equals("blocklist") ? policy.blocklist()
                    : f.type().startsWith("classifier:") ? policy.classifier() : policy.pii();
            findings.labelValues(direction, f.type().startsWith("classifier:") ? "classifier" : f.type(), action.id()).inc();
        }
    }

    private static Map<String, Integer> counts(List<Finding> found) {
        Map<String, Integer> out = new TreeMap<>();
        for (Finding f : found) {
            out.merge(f.type(), 1, Integer::sum);
        }
        return out;
    }
}
