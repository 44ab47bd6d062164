package io.spillway.server.api;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.server.http.Exchange;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One structured line per request on the {@code spillway.access} logger (id, method, path, status,
 * route and its reasons, cache result, tokens, duration: never content), and the HTTP metrics. Paths are reduced to
 * their route so a collection name or model id never becomes a label.
 */
final class AccessLog {

    private static final Logger LOG = LoggerFactory.getLogger("spillway.access");
    private static final double[] DURATION_BUCKETS = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};

    private final Counter requests;
    private final Histogram duration;

    AccessLog(PrometheusRegistry registry) {
        requests = Counter.builder().name("spillway_http_requests_total").help("HTTP requests by route, method and status")
                .labelNames("route", "method", "status").register(registry);
        duration = Histogram.builder().name("spillway_http_request_duration_seconds")
                .help("From a request read in full to its response written in full (a whole stream for SSE)")
                .labelNames("route").classicUpperBounds(DURATION_BUCKETS).register(registry);
    }

    /** Records {@code ex} when it ends, with what its answer reported. */
    void watch(Exchange ex, Outcome outcome) {
        ex.onEnd(() -> record(ex, outcome));
    }

    private void record(Exchange ex, Outcome outcome) {
        double seconds = (System.nanoTime() - ex.arrivalNanos()) / 1e9;
        String route = route(ex.path());
        int status = ex.status() == 0 ? 499 : ex.status();
        requests.labelValues(route, ex.method(), Integer.toString(status)).inc();
        duration.labelValues(route).observe(seconds);
        Outcome.Report o = outcome.report();
        if (LOG.isInfoEnabled() && !route.equals("/metrics") && !route.equals("/health") && !route.equals("/ready")
                && !route.startsWith("/dashboard")) {
            LOG.info("id={} {} {} status={} route={} route_reason={} cache={} prompt_tokens={} completion_tokens={} ms={}", ex.requestId(),
                    ex.method(), route, status, o.route(), o.routeReasons(), o.cache(), o.promptTokens(), o.completionTokens(),
                    Math.round(seconds * 1000));
        }
    }

    static String route(String path) {
        if (path.startsWith("/v1/collections/")) {
            return "/v1/collections/*";
        }
        if (path.startsWith("/v1/models/")) {
            return "/v1/models/*";
        }
        if (path.startsWith("/dashboard")) {
            return "/dashboard";
        }
        return switch (path) {
            case "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models", "/v1/collections", "/tokenize", "/detokenize",
                 "/health", "/ready", "/version", "/metrics" -> path;
            default -> "other";
        };
    }
}
