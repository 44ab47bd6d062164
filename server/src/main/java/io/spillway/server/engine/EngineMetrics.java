package io.spillway.server.engine;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.function.Supplier;

/**
 * The engine's Prometheus metrics. Gauges read the engine's latest snapshot when scraped;
 * counters and histograms are fed by the engine thread. Latency buckets span what LLM serving
 * sees: milliseconds for inter-token gaps, up to minutes for whole requests.
 */
final class EngineMetrics {

    static final double[] TTFT_BUCKETS = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 2.5, 5, 7.5, 10, 20, 40, 80};
    static final double[] ITL_BUCKETS = {0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5};
    static final double[] E2E_BUCKETS = {0.1, 0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480};

    final Counter promptTokens;
    final Counter generationTokens;
    final Counter preemptions;
    final Counter prefixQueries;
    final Counter prefixHits;
    final Counter finished;
    final Counter stepFailures;
    final Histogram timeToFirstToken;
    final Histogram interTokenLatency;
    final Histogram e2eLatency;
    final Histogram stepDuration;

    EngineMetrics(PrometheusRegistry registry, Supplier<EngineStats> stats) {
        GaugeWithCallback.builder().name("spillway_engine_requests_running").help("Sequences in the running batch.")
                .callback(cb -> cb.call(stats.get().running())).register(registry);
        GaugeWithCallback.builder().name("spillway_engine_requests_waiting").help("Sequences waiting to be scheduled.")
                .callback(cb -> cb.call(stats.get().waiting())).register(registry);
        GaugeWithCallback.builder().name("spillway_engine_queue_wait_estimate_seconds")
                .help("Estimated wait before a new request's prefill starts (what the router spills on).")
                .callback(cb -> cb.call(stats.get().estimatedQueueWaitSeconds())).register(registry);
        GaugeWithCallback.builder().name("spillway_kv_cache_blocks").help("KV cache blocks by state.").labelNames("state")
                .callback(cb -> {
                    EngineStats s = stats.get();
                    cb.call(s.kvBlocksUsed(), "used");
                    cb.call(s.kvBlocksFree(), "free");
                }).register(registry);
        GaugeWithCallback.builder().name("spillway_kv_cache_usage_ratio").help("Fraction of KV cache blocks in use.")
                .callback(cb -> {
                    EngineStats s = stats.get();
                    cb.call(s.kvBlocksTotal() == 0 ? 0 : (double) s.kvBlocksUsed() / s.kvBlocksTotal());
                }).register(registry);
        GaugeWithCallback.builder().name("spillway_engine_generation_tokens_per_second").help("Recent output token rate.")
                .callback(cb -> cb.call(stats.get().generationTokensPerSecond())).register(registry);
        promptTokens = Counter.builder().name("spillway_engine_prompt_tokens").help("Prompt tokens computed.").register(registry);
        generationTokens = Counter.builder().name("spillway_engine_generation_tokens").help("Tokens generated.").register(registry);
        preemptions = Counter.builder().name("spillway_engine_preemptions").help("Sequences preempted for lack of KV blocks.").register(registry);
        prefixQueries = Counter.builder().name("spillway_prefix_cache_queries_tokens").help("Prompt tokens looked up in the prefix cache.").register(registry);
        prefixHits = Counter.builder().name("spillway_prefix_cache_hits_tokens").help("Prompt tokens found in the prefix cache.").register(registry);
        finished = Counter.builder().name("spillway_engine_requests_finished").help("Finished samples by reason.")
                .labelNames("reason").register(registry);
        stepFailures = Counter.builder().name("spillway_engine_step_failures")
                .help("Forward passes that failed, by kind: out_of_memory (retried smaller), device_lost, other.")
                .labelNames("kind").register(registry);
        timeToFirstToken = Histogram.builder().name("spillway_request_time_to_first_token_seconds")
                .help("Time from arrival to the first generated token.").classicUpperBounds(TTFT_BUCKETS).register(registry);
        interTokenLatency = Histogram.builder().name("spillway_request_inter_token_latency_seconds")
                .help("Time between consecutive tokens of a sample.").classicUpperBounds(ITL_BUCKETS).register(registry);
        e2eLatency = Histogram.builder().name("spillway_request_e2e_latency_seconds")
                .help("Time from arrival to the last token.").classicUpperBounds(E2E_BUCKETS).register(registry);
        stepDuration = Histogram.builder().name("spillway_engine_step_duration_seconds")
                .help("Duration of one engine step (schedule, forward pass, sampling).").classicUpperBounds(ITL_BUCKETS).register(registry);
    }
}
