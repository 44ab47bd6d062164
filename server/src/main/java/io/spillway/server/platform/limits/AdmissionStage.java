package io.spillway.server.platform.limits;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.server.generation.Caller;
import io.spillway.server.generation.ForwardingGeneration;
import io.spillway.server.generation.GenerationEvent;
import io.spillway.server.generation.GenerationRequest;
import io.spillway.server.generation.Generator;
import io.spillway.server.generation.KeyPolicy;
import io.spillway.server.generation.Start;
import io.spillway.server.wire.OpenAiException;
import io.spillway.server.wire.Usage;
import java.util.Optional;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a caller may ask for: the models its key may use (403), its requests and tokens per window
 * and its monthly budget (429 naming the limit, with Retry-After). Tokens and spend are charged
 * when an answer completes, since only then are they known; reused answers (caches,
 * de-duplication) cost nothing.
 */
public final class AdmissionStage implements Generator {

    private static final Logger LOG = LoggerFactory.getLogger(AdmissionStage.class);

    private final Generator inner;
    private final WindowLimits limiter;
    private final Optional<SpendLedger> ledger;
    private final Counter refusals;
    private final Counter spendDollars;

    public AdmissionStage(Generator inner, WindowLimits limiter, Optional<SpendLedger> ledger, PrometheusRegistry registry) {
        this.inner = inner;
        this.limiter = limiter;
        this.ledger = ledger;
        this.refusals = Counter.builder().name("spillway_limit_refusals_total")
                .help("Requests refused with 429, by the limit that refused them: requests, tokens or budget")
                .labelNames("limit").register(registry);
        this.spendDollars = Counter.builder().name("spillway_budget_spend_dollars_total")
                .help("Spend charged to keys' budgets at the router's prices, by tenant").labelNames("tenant").register(registry);
    }

    @Override
    public Start start(GenerationRequest request) {
        Caller caller = request.caller();
        if (!caller.policy().allows(request.model())) {
            throw new OpenAiException(403, "permission_error", "This API key may not use the model '" + request.model() + "'.", "model",
                    "model_not_allowed", 0);
        }
        if (caller.stored()) {
            admit(caller);
        }
        Start start = inner.start(request);
        if (!(start instanceof Start.Accepted accepted)) {
            return start;
        }
        return new Start.Accepted(new ForwardingGeneration(accepted.generation()) {
            private boolean reused;

            @Override
            protected void onEvent(GenerationEvent event, Consumer<GenerationEvent> downstream) {
                if (event instanceof GenerationEvent.Started s) {
                    reused = s.cache().reused();
                } else if (event instanceof GenerationEvent.Completed c && !reused) {
                    charge(caller, c.usage());
                }
                downstream.accept(event);
            }
        });
    }

    /** Checks the caller's request and token limits and budget; 429 naming the limit when one is reached. */
    private void admit(Caller caller) {
        KeyPolicy k = caller.policy();
        boolean budget = k.monthlyBudgetUsd() > 0 && ledger.isPresent();
        // With shared limits, the window and the spend come back from one statement: one round trip per request.
        WindowLimits.Admission admission = budget
                ? limiter.admitAndReadSpend(caller.keyId(), k.requestsPerWindow(), k.tokensPerWindow(), ledger.get().currentPeriod().toString())
                : new WindowLimits.Admission(limiter.admit(caller.keyId(), k.requestsPerWindow(), k.tokensPerWindow()), java.util.OptionalDouble.empty());
        Optional<RateLimiter.Refusal> refusal = admission.refusal();
        if (refusal.isPresent()) {
            RateLimiter.Refusal r = refusal.get();
            refusals.labelValues(r.limit()).inc();
            throw new OpenAiException(429, "requests".equals(r.limit()) ? "requests" : "tokens", String.format(
                    "Rate limit reached for this API key: %s per window, %d used of %d. Retry after %.1f s.", r.limit(), r.used(),
                    r.allowed(), r.retryAfterSeconds()), null, "rate_limit_exceeded", Math.max(1, Math.ceil(r.retryAfterSeconds())));
        }
        if (budget) {
            double spentUsd = admission.spentUsd().isPresent() ? admission.spentUsd().getAsDouble()
                    : ledger.get().spent(caller.keyId()).costUsd();
            if (spentUsd >= k.monthlyBudgetUsd()) {
                refusals.labelValues("budget").inc();
                throw new OpenAiException(429, "insufficient_quota", String.format("This API key's monthly budget of $%.4f is spent"
                        + " ($%.4f in %s). It renews at the start of next month.", k.monthlyBudgetUsd(), spentUsd,
                        ledger.get().currentPeriod()), null, "insufficient_quota", ledger.get().secondsToNextPeriod());
            }
        }
    }

    private void charge(Caller caller, Usage usage) {
        if (caller.stored()) {
            limiter.charge(caller.keyId(), usage.totalTokens());
            // Charged before the caller sees the end: its next request must see this spend.
            try {
                ledger.ifPresent(l -> l.charge(caller.keyId(), usage.costUsd(), usage.promptTokens(), usage.completionTokens()));
            } catch (RuntimeException e) {
                LOG.error("budget: charging key {} failed", caller.keyId(), e);
            }
        }
        if (usage.costUsd() > 0) {
            spendDollars.labelValues(caller.tenant()).inc(usage.costUsd());
        }
    }
}
