package io.spillway.server.router;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/** Requests, tokens and cost per route, and why requests spilled. */
final class RouterMetrics {

    final Counter requests;
    final Counter tokens;
    final Counter spills;
    final Counter costDollars;

    RouterMetrics(PrometheusRegistry registry) {
        requests = Counter.builder().name("spillway_router_requests_total").help("Chat requests by the route that served them")
                .labelNames("route").register(registry);
        tokens = Counter.builder().name("spillway_router_tokens_total").help("Tokens by route and kind (prompt, completion)")
                .labelNames("route", "kind").register(registry);
        spills = Counter.builder().name("spillway_router_spills_total").help("Requests sent to Bedrock, by reason")
                .labelNames("reason").register(registry);
        costDollars = Counter.builder().name("spillway_router_cost_dollars_total").help("Cost from the price table, by route and model")
                .labelNames("route", "model").register(registry);
    }
}
