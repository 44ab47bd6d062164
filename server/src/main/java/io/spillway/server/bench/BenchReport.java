package io.spillway.server.bench;

import java.io.PrintStream;

/** Tables of benchmark results for the terminal: one result, or two side by side with the change. */
public final class BenchReport {

    private BenchReport() {
    }

    public static void print(BenchResult r, PrintStream out) {
        out.printf("%s at %s: %d prompt / %d output tokens, %.0f s per load, %s%n", r.model(), r.url(), r.promptTokens(), r.outputTokens(),
                r.durationSeconds(), r.stream() ? "streaming" : "not streaming");
        out.printf("%-13s %6s %5s %8s %9s %9s %9s %9s %8s %8s %9s %9s  %s%n", "load", "done", "err", "req/s", "out tok/s", "TTFT p50",
                "TTFT p90", "TTFT p99", "ITL p50", "ITL p99", "E2E p50", "E2E p99", "routes / cache");
        for (BenchResult.Run run : r.runs()) {
            out.printf("%-13s %6d %5d %8.2f %9.1f %9.1f %9.1f %9.1f %8.1f %8.1f %9.1f %9.1f  %s %s%n", run.load(), run.completed(),
                    run.errors(), run.requestsPerSecond(), run.outputTokensPerSecond(), run.ttftMs().p50(), run.ttftMs().p90(),
                    run.ttftMs().p99(), run.itlMs().p50(), run.itlMs().p99(), run.e2eMs().p50(), run.e2eMs().p99(), run.routes(), run.cache());
        }
        out.println("(latencies in ms)");
    }

    /** Runs matched by position (the same sweep run twice): each figure of b beside a's, with the relative change. */
    public static void compare(BenchResult a, String aName, BenchResult b, String bName, PrintStream out) {
        out.printf("%s vs %s%n", aName, bName);
        out.printf("%-13s %-14s %10s %10s %8s%n", "load", "figure", aName.length() > 10 ? "A" : aName, bName.length() > 10 ? "B" : bName,
                "change");
        int n = Math.min(a.runs().size(), b.runs().size());
        for (int i = 0; i < n; i++) {
            BenchResult.Run x = a.runs().get(i);
            BenchResult.Run y = b.runs().get(i);
            row(out, x.load(), "req/s", x.requestsPerSecond(), y.requestsPerSecond());
            row(out, "", "out tok/s", x.outputTokensPerSecond(), y.outputTokensPerSecond());
            row(out, "", "TTFT p50 ms", x.ttftMs().p50(), y.ttftMs().p50());
            row(out, "", "TTFT p99 ms", x.ttftMs().p99(), y.ttftMs().p99());
            row(out, "", "ITL p50 ms", x.itlMs().p50(), y.itlMs().p50());
            row(out, "", "E2E p99 ms", x.e2eMs().p99(), y.e2eMs().p99());
            row(out, "", "errors", x.errors(), y.errors());
        }
        if (a.runs().size() != b.runs().size()) {
            out.printf("(%d and %d loads: compared the first %d)%n", a.runs().size(), b.runs().size(), n);
        }
    }

    private static void row(PrintStream out, String load, String figure, double a, double b) {
        String change = a == 0 || Double.isNaN(a) || Double.isNaN(b) ? "" : String.format("%+.1f%%", 100 * (b - a) / a);
        out.printf("%-13s %-14s %10.2f %10.2f %8s%n", load, figure, a, b, change);
    }
}
