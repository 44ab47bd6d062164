package io.spillway.server.api;

/**
 * What one exchange's answer reported (where it ran and why, whether a cache answered, its tokens), kept
 * by the code answering it for the access log line written when the exchange ends.
 */
final class Outcome {

    /** The reported values; "-" where there are none (an error, an endpoint that generates nothing). */
    record Report(String route, String routeReasons, String cache, int promptTokens, int completionTokens) {
    }

    private volatile Report report = new Report("-", "-", "-", 0, 0);

    Report report() {
        return report;
    }

    void started(String route, String routeReasons, String cache) {
        report = new Report(route, routeReasons, cache, 0, 0);
    }

    void completed(int promptTokens, int completionTokens) {
        Report r = report;
        report = new Report(r.route(), r.routeReasons(), r.cache(), promptTokens, completionTokens);
    }
}
