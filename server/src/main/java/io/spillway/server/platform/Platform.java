package io.spillway.server.platform;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.server.api.OpenAiException;
import io.spillway.server.api.Params;
import io.spillway.server.http.Exchange;
import io.spillway.server.platform.audit.AuditLog;
import io.spillway.server.platform.audit.AuditRecord;
import io.spillway.server.platform.cache.CacheKeys;
import io.spillway.server.platform.cache.CompletionRecorder;
import io.spillway.server.platform.cache.CompletionReplay;
import io.spillway.server.platform.cache.InFlightRequests;
import io.spillway.server.platform.cache.ResponseCache;
import io.spillway.server.platform.cache.SemanticCache;
import io.spillway.server.platform.cache.SharedResponse;
import io.spillway.server.platform.keys.ApiKey;
import io.spillway.server.platform.keys.KeyStore;
import io.spillway.server.platform.limits.RateLimiter;
import io.spillway.server.platform.limits.SpendLedger;
import io.spillway.server.platform.safety.Blocklist;
import io.spillway.server.platform.safety.ContentClassifier;
import io.spillway.server.platform.safety.Finding;
import io.spillway.server.platform.safety.SafetyAction;
import io.spillway.server.platform.safety.SafetyPolicy;
import io.spillway.server.platform.safety.TextFilter;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.ToDoubleBiFunction;

/**
 * The platform around generation, in the order of our design notes' request path: the caller's
 * limits and budget, input filters, the exact and semantic caches, in-flight de-duplication, then
 * the generator (local engine or Bedrock, chosen by the router); on the way out, output filters;
 * at the end, token and spend accounting, cache fills and one audit record. Each part is on by
 * configuration; any may be absent.
 */
public final class Platform {

    public static final String CACHE_HEADER = "x-spillway-cache";
    private static final String ROUTE_HEADER = "x-spillway-route";

    /** Runs the generation itself (router or engine), answering on the exchange. */
    @FunctionalInterface
    public interface Generator {
        void generate(Params p);
    }

    /** The parts in use; a null or empty part is off. */
    public record Parts(Optional<KeyStore> keys, RateLimiter limiter, Optional<SpendLedger> ledger, Optional<ResponseCache> cache,
                        Optional<SemanticCache> semantic, boolean dedup, SafetyPolicy safety, Blocklist blocklist,
                        Optional<ContentClassifier> classifier, Optional<AuditLog> audit) {
    }

    private final Parts parts;
    private final InFlightRequests inFlight = new InFlightRequests();
    private final PlatformMetrics metrics;
    private final Clock clock;
    /** The price of a request: (model, usage) to dollars, from the router's table. */
    private final ToDoubleBiFunction<String, Exchange.Usage> prices;

    public Platform(Parts parts, ToDoubleBiFunction<String, Exchange.Usage> prices, PrometheusRegistry registry, Clock clock) {
        this.parts = parts;
        this.prices = prices;
        this.metrics = new PlatformMetrics(registry);
        this.clock = clock;
    }

    public Optional<KeyStore> keys() {
        return parts.keys();
    }

    /** Whether the caches are configured (for the header on responses that bypass them). */
    private boolean cachingOn() {
        return parts.cache().isPresent();
    }

    /** A generation request (chat or legacy completion) through the platform. */
    public void serve(Exchange ex, Caller caller, String endpoint, Params p, Generator generator) {
        long start = System.nanoTime();
        String model = p.requiredString("model");
        Optional<ApiKey> key = caller.key();
        Audit audit = new Audit(ex, caller, endpoint, model, start);
        ex.onEnd(audit::write);
        if (key.isPresent() && !key.get().allows(model)) {
            throw new OpenAiException(403, "permission_error", "This API key may not use the model '" + model + "'.", "model",
                    "model_not_allowed", 0);
        }
        if (key.isPresent() && key.get().localOnly() && endpoint.equals("chat")) {
            p.body().put("route", "local-only");
        }
        admit(caller, key);

        SafetyPolicy policy = policyOf(key);
        TextFilter filter = new TextFilter(policy, parts.blocklist(), parts.classifier());
        audit.logPrompts = policy.logPrompts();
        if (filter.active()) {
            filterInput(p, filter, audit);
        }
        audit.prompt = audit.logPrompts ? promptText(p) : null;

        boolean cacheable = cachingOn() && deterministic(p) && !p.has("rag") && !p.has("logprobs") && !p.bool("echo", false);
        String tenantScope = caller.tenant() + "/" + caller.keyId();
        String exactKey = cacheable ? CacheKeys.exact(endpoint, tenantScope, policy.fingerprint(), p.body()) : null;
        boolean stream = p.bool("stream", false);
        boolean includeUsage = p.has("stream_options") && p.object("stream_options").path("include_usage").asBoolean(false);

        if (exactKey != null) {
            Optional<ObjectNode> hit = parts.cache().get().get(exactKey);
            if (hit.isPresent()) {
                replay(ex, hit.get(), stream, includeUsage, "hit", audit);
                return;
            }
        }
        boolean semanticWanted = parts.semantic().isPresent() && endpoint.equals("chat") && !p.has("rag")
                && p.bool("semantic_cache", key.map(ApiKey::semanticCache).orElse(false));
        String partition = null;
        float[] vector = null;
        if (semanticWanted) {
            partition = CacheKeys.partition(endpoint, tenantScope, policy.fingerprint(), p.body());
            vector = parts.semantic().get().embed(promptText(p));
            Optional<SemanticCache.Hit> hit = parts.semantic().get().lookup(partition, vector);
            if (hit.isPresent()) {
                replay(ex, hit.get().body(), stream, includeUsage, "semantic", audit);
                return;
            }
        }
        SharedResponse shared = null;
        String dedupKey = exactKey == null || !parts.dedup() ? null : exactKey + (stream ? "/stream" : "/body")
                + (includeUsage ? "/usage" : "");
        if (dedupKey != null) {
            SharedResponse mine = new SharedResponse();
            SharedResponse leader = inFlight.joinOrLead(dedupKey, mine);
            if (leader != null) {
                metrics.dedupFollowers.inc();
                metrics.cache.labelValues("hit").inc();
                audit.cache = "dedup";
                ex.addResponseHeader(CACHE_HEADER, "hit");
                leader.follow(ex);
                return;
            }
            shared = mine;
        }
        String cacheResult = exactKey != null || semanticWanted ? "miss" : "bypass";
        metrics.cache.labelValues(cacheResult).inc();
        audit.cache = cacheResult;
        ex.addResponseHeader(CACHE_HEADER, "miss");
        CompletionRecorder recorder = exactKey != null || semanticWanted ? new CompletionRecorder() : null;
        PlatformTap tap = new PlatformTap(filter.active() ? filter : null, recorder, shared);
        audit.output = tap;
        ex.tap(tap);
        SharedResponse leading = shared;
        String storePartition = partition;
        float[] storeVector = vector;
        audit.settle.add(() -> {
            if (leading != null) {
                inFlight.finish(dedupKey, leading);
            }
            Exchange.Usage u = ex.usage();
            if (recorder != null && ex.status() == 200) {
                ObjectNode done = recorder.completed(u == null ? null : CompletionRecorder.usage(u.promptTokens(), u.completionTokens()));
                if (done != null) {
                    if (exactKey != null) {
                        parts.cache().get().put(exactKey, done);
                    }
                    if (storeVector != null) {
                        parts.semantic().get().store(storePartition, storeVector, done);
                    }
                }
            }
        });
        audit.settle.add(() -> charge(ex, caller, model, audit));
        generator.generate(p);
        if (shared != null) {
            shared.header(ROUTE_HEADER, ex.responseHeader(ROUTE_HEADER));
        }
    }

    /** Checks the caller's request and token limits and budget; 429 naming the limit when one is reached. */
    private void admit(Caller caller, Optional<ApiKey> key) {
        if (key.isEmpty()) {
            return;
        }
        ApiKey k = key.get();
        Optional<RateLimiter.Refusal> refusal = parts.limiter().admit(k.id(), k.rpm(), k.tpm());
        if (refusal.isPresent()) {
            RateLimiter.Refusal r = refusal.get();
            metrics.refusals.labelValues(r.limit()).inc();
            throw new OpenAiException(429, "requests".equals(r.limit()) ? "requests" : "tokens", String.format(
                    "Rate limit reached for this API key: %s per window, %d used of %d. Retry after %.1f s.", r.limit(), r.used(),
                    r.allowed(), r.retryAfterSeconds()), null, "rate_limit_exceeded", Math.max(1, Math.ceil(r.retryAfterSeconds())));
        }
        if (k.monthlyBudgetUsd() > 0 && parts.ledger().isPresent()) {
            SpendLedger.Spend spent = parts.ledger().get().spent(k.id());
            if (spent.costUsd() >= k.monthlyBudgetUsd()) {
                metrics.refusals.labelValues("budget").inc();
                throw new OpenAiException(429, "insufficient_quota", String.format("This API key's monthly budget of $%.4f is spent"
                        + " ($%.4f in %s). It renews at the start of next month.", k.monthlyBudgetUsd(), spent.costUsd(),
                        parts.ledger().get().currentPeriod()), null, "insufficient_quota", parts.ledger().get().secondsToNextPeriod());
            }
        }
    }

    private void charge(Exchange ex, Caller caller, String model, Audit audit) {
        Exchange.Usage u = ex.usage();
        if (u == null || "hit".equals(audit.cache) || "semantic".equals(audit.cache) || "dedup".equals(audit.cache)) {
            return;
        }
        double cost = prices.applyAsDouble(model, u);
        audit.cost = cost;
        if (caller.key().isPresent()) {
            String id = caller.keyId();
            parts.limiter().charge(id, u.promptTokens() + u.completionTokens());
            parts.ledger().ifPresent(l -> l.charge(id, cost, u.promptTokens(), u.completionTokens()));
        }
        if (cost > 0) {
            metrics.spendDollars.labelValues(caller.tenant()).inc(cost);
        }
    }

    private SafetyPolicy policyOf(Optional<ApiKey> key) {
        SafetyPolicy base = parts.safety();
        if (key.isEmpty()) {
            return base;
        }
        SafetyPolicy p = key.get().pii().map(base::withPii).orElse(base);
        return key.get().logPrompts() ? p.withLogPrompts(true) : p;
    }

    /** Filters every text the model would read; refuses the request when a blocking filter fires. */
    private void filterInput(Params p, TextFilter filter, Audit audit) {
        InputScan scan = new InputScan(filter);
        ObjectNode body = p.body();
        JsonNode messages = body.get("messages");
        if (messages != null && messages.isArray()) {
            for (JsonNode m : messages) {
                if (!(m instanceof ObjectNode message)) {
                    continue;
                }
                JsonNode content = message.get("content");
                if (content != null && content.isTextual()) {
                    message.set("content", scan.filter(content.asText()));
                } else if (content != null && content.isArray()) {
                    for (JsonNode part : content) {
                        if (part instanceof ObjectNode o && o.path("text").isTextual()) {
                            o.set("text", scan.filter(o.get("text").asText()));
                        }
                    }
                }
            }
        }
        JsonNode prompt = body.get("prompt");
        if (prompt != null && prompt.isTextual()) {
            body.set("prompt", scan.filter(prompt.asText()));
        } else if (prompt instanceof com.fasterxml.jackson.databind.node.ArrayNode prompts) {
            for (int i = 0; i < prompts.size(); i++) {
                if (prompts.get(i).isTextual()) {
                    prompts.set(i, scan.filter(prompts.get(i).asText()));
                }
            }
        }
        audit.input = counts(scan.found);
        count("input", scan.found, filter.policy());
        if (scan.blocked) {
            throw new OpenAiException(400, "invalid_request_error", "The request was refused by the content policy: it contains "
                    + String.join(", ", audit.input.keySet()) + ".", "messages", "content_policy_violation", 0);
        }
    }

    /** What the input filters found over every text of a request, and whether one of them blocks it. */
    private static final class InputScan {
        private final TextFilter filter;
        private final List<Finding> found = new ArrayList<>();
        private boolean blocked;

        InputScan(TextFilter filter) {
            this.filter = filter;
        }

        /** The text as it may go on to the model. */
        TextNode filter(String text) {
            TextFilter.Result r = filter.apply(text);
            found.addAll(r.findings());
            blocked |= r.blocked();
            return TextNode.valueOf(r.text());
        }
    }

    private void count(String direction, List<Finding> found, SafetyPolicy policy) {
        for (Finding f : found) {
            SafetyAction action = f.type().equals("blocklist") ? policy.blocklist()
                    : f.type().startsWith("classifier:") ? policy.classifier() : policy.pii();
            metrics.findings.labelValues(direction, f.type().startsWith("classifier:") ? "classifier" : f.type(), action.id()).inc();
        }
    }

    static Map<String, Integer> counts(List<Finding> found) {
        Map<String, Integer> out = new TreeMap<>();
        for (Finding f : found) {
            out.merge(f.type(), 1, Integer::sum);
        }
        return out;
    }

    private void replay(Exchange ex, ObjectNode stored, boolean stream, boolean includeUsage, String result, Audit audit) {
        metrics.cache.labelValues(result).inc();
        audit.cache = result;
        ex.addResponseHeader(CACHE_HEADER, result);
        JsonNode route = stored.get("route");
        if (route != null && route.isTextual()) {
            ex.addResponseHeader(ROUTE_HEADER, route.asText());
        }
        JsonNode u = stored.path("usage");
        ex.reportUsage(u.path("prompt_tokens").asInt(), u.path("completion_tokens").asInt());
        if (!stream) {
            ex.json(200, CompletionReplay.body(stored, clock));
            return;
        }
        Exchange.SseStream sse = ex.openSse(Map.of());
        CompletionReplay.stream(stored, includeUsage, clock).forEach(sse::send);
        sse.end();
    }

    private static boolean deterministic(Params p) {
        JsonNode t = p.get("temperature");
        return (t != null && t.isNumber() && t.asDouble() == 0) || (p.has("seed") && !p.get("seed").isNull());
    }

    /** The text a request's prompt reads as (for embedding and, when allowed, the audit log). */
    private static String promptText(Params p) {
        JsonNode messages = p.get("messages");
        if (messages != null && messages.isArray()) {
            StringBuilder b = new StringBuilder();
            for (JsonNode m : messages) {
                JsonNode c = m.path("content");
                String text = c.isTextual() ? c.asText() : c.isArray() ? joinParts(c) : "";
                b.append(m.path("role").asText("user")).append(": ").append(text).append('\n');
            }
            return b.toString();
        }
        JsonNode prompt = p.get("prompt");
        return prompt == null ? "" : prompt.isTextual() ? prompt.asText() : prompt.toString();
    }

    private static String joinParts(JsonNode parts) {
        StringBuilder b = new StringBuilder();
        for (JsonNode part : parts) {
            b.append(part.path("text").asText(""));
        }
        return b.toString();
    }

    /** The audit record of one request, filled in as it goes and written when its exchange ends. */
    private final class Audit {
        final Exchange ex;
        final Caller caller;
        final String endpoint;
        final String model;
        final long start;
        String cache = "bypass";
        Map<String, Integer> input = Map.of();
        PlatformTap output;
        double cost;
        boolean logPrompts;
        String prompt;
        /** Accounting and cache fills, run in order when the exchange ends, before the record is written. */
        final List<Runnable> settle = new ArrayList<>();

        Audit(Exchange ex, Caller caller, String endpoint, String model, long start) {
            this.ex = ex;
            this.caller = caller;
            this.endpoint = endpoint;
            this.model = model;
            this.start = start;
        }

        void write() {
            for (Runnable r : settle) {
                try {
                    r.run();
                } catch (RuntimeException e) {
                    // Accounting must not lose the audit record (nor the response, long sent).
                    org.slf4j.LoggerFactory.getLogger(Platform.class).error("request {}: settling failed", ex.requestId(), e);
                }
            }
            Map<String, Integer> out = Map.of();
            if (output != null) {
                List<Finding> found = output.findings();
                out = counts(found);
                count("output", found, policyOf(caller.key()));
            }
            if (parts.audit().isEmpty()) {
                return;
            }
            Exchange.Usage u = ex.usage();
            int status = ex.status() == 0 ? 499 : ex.status();
            parts.audit().get().append(new AuditRecord(ex.requestId(), clock.instant().toString(), caller.keyId(), caller.tenant(),
                    endpoint, model, Optional.ofNullable(ex.responseHeader(ROUTE_HEADER)).orElse(cache.equals("bypass") || cache.equals("miss")
                    ? "none" : "cache"), cache, u == null ? 0 : u.promptTokens(), u == null ? 0 : u.completionTokens(), cost, input, out,
                    status, status >= 400 ? "error" : null, (System.nanoTime() - start) / 1e9, prompt));
            metrics.auditRecords.inc();
        }
    }
}
