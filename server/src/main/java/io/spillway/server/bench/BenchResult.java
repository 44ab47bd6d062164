package io.spillway.server.bench;

import java.util.List;
import java.util.Map;

/**
 * What {@code spillway bench serve} measured: the settings, and one run per offered load (a request
 * rate of a sweep, or a concurrency). Written as JSON; read back by {@code bench compare}.
 */
public record BenchResult(String url, String model, int promptTokens, int outputTokens, double durationSeconds, boolean stream,
                          String startedAt, List<Run> runs) {

    /**
     * One offered load.
     *
     * @param requestRate offered requests per second (Poisson arrivals), or 0 for a closed loop
     * @param concurrency clients in a closed loop, or 0 for an open (rate) run
     */
    public record Run(double requestRate, int concurrency, int completed, int errors, double elapsedSeconds, double requestsPerSecond,
                      double outputTokensPerSecond, Percentiles ttftMs, Percentiles itlMs, Percentiles e2eMs,
                      Map<String, Integer> routes, Map<String, Integer> cache, Map<String, Integer> errorStatuses) {

        /** How the run is named in tables and plots. */
        public String load() {
            return requestRate > 0 ? String.format("%.2f req/s", requestRate) : concurrency + " clients";
        }
    }
}
