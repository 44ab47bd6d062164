package io.spillway.server.platform;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/** Metrics of caches, de-duplication, limits, budgets, safety and audit. Labels never carry request content. */
final class PlatformMetrics {

    final Counter cache;
    final Counter dedupFollowers;
    final Counter refusals;
    final Counter findings;
    final Counter spendDollars;
    final Counter auditRecords;

    PlatformMetrics(PrometheusRegistry registry) {
        cache = Counter.builder().name("spillway_cache_requests_total")
                .help("Completion requests by cache result: hit (exact), semantic, miss, or bypass (not cacheable)")
                .labelNames("result").register(registry);
        dedupFollowers = Counter.builder().name("spillway_dedup_followers_total")
                .help("Requests served by following an identical request in flight instead of running").register(registry);
        refusals = Counter.builder().name("spillway_limit_refusals_total")
                .help("Requests refused with 429, by the limit that refused them: requests, tokens or budget")
                .labelNames("limit").register(registry);
        findings = Counter.builder().name("spillway_safety_findings_total")
                .help("Safety filter findings by direction (input, output), type and action")
                .labelNames("direction", "type", "action").register(registry);
        spendDollars = Counter.builder().name("spillway_budget_spend_dollars_total")
                .help("Spend charged to keys' budgets at the router's prices, by tenant").labelNames("tenant").register(registry);
        auditRecords = Counter.builder().name("spillway_audit_records_total").help("Lines appended to the audit log").register(registry);
    }
}
