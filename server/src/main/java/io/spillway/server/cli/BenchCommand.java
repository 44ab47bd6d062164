package io.spillway.server.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.spillway.server.bench.BenchPlot;
import io.spillway.server.bench.BenchReport;
import io.spillway.server.bench.BenchResult;
import io.spillway.server.bench.ServeBenchmark;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code spillway bench serve|compare}: the serving load generator and its comparisons. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = {"Benchmark a running server (OpenAI API).",
        "The JMH kernel benchmarks run with `./spillway bench kernels [JMH ARGS...]` (the launcher finds the JDK and builds them)."},
        subcommands = {BenchCommand.Serve.class, BenchCommand.Compare.class})
public final class BenchCommand implements Runnable {

    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    @Command(name = "serve", mixinStandardHelpOptions = true,
            description = "Offer load to a server and report throughput and latency percentiles; optionally a sweep with a plot.")
    static final class Serve implements Callable<Integer> {
        @Option(names = "--url", defaultValue = "http://127.0.0.1:8000", description = "The server (default: ${DEFAULT-VALUE}).")
        URI url;

        @Option(names = "--model", required = true, description = "The model to ask for.")
        String model;

        @Option(names = "--api-key", description = "Bearer key, if the server needs one (or SPILLWAY_API_KEY).")
        String apiKey = System.getenv("SPILLWAY_API_KEY");

        @Option(names = "--request-rate", split = ",", description = "Poisson request rates per second, one run each (a sweep).")
        List<Double> rates = List.of();

        @Option(names = "--concurrency", split = ",", description = "Closed-loop client counts, one run each.")
        List<Integer> concurrency = List.of();

        @Option(names = "--prompt-tokens", defaultValue = "128", description = "Prompt length (default: ${DEFAULT-VALUE}).")
        int promptTokens;

        @Option(names = "--output-tokens", defaultValue = "64", description = "Tokens generated per request (default: ${DEFAULT-VALUE}).")
        int outputTokens;

        @Option(names = "--duration", defaultValue = "30s", description = "Length of each run: 30s, 2m (default: ${DEFAULT-VALUE}).")
        String duration;

        @Option(names = "--no-stream", description = "Ask for whole bodies (then TTFT is the whole answer's latency).")
        boolean noStream;

        @Option(names = "--seed", defaultValue = "0", description = "Seed of prompts and arrivals.")
        long seed;

        @Option(names = "--warmup", defaultValue = "4", description = "Requests sent first and not counted (default: ${DEFAULT-VALUE}).")
        int warmup;

        @Option(names = "--output", description = "Write the result as JSON here.")
        Path output;

        @Option(names = "--plot", description = "Write a PNG of latency against throughput here.")
        Path plot;

        @Override
        public Integer call() throws Exception {
            if (rates.isEmpty() && concurrency.isEmpty()) {
                throw new CliError("give --request-rate R[,R...] or --concurrency N[,N...]");
            }
            if (rates.stream().anyMatch(r -> r <= 0) || concurrency.stream().anyMatch(c -> c <= 0) || promptTokens < 1 || outputTokens < 1) {
                throw new CliError("rates, concurrencies and token counts must be positive");
            }
            ServeBenchmark bench = new ServeBenchmark(new ServeBenchmark.Settings(url, model, apiKey, promptTokens, outputTokens,
                    parseDuration(duration), !noStream, seed, warmup));
            BenchResult result = bench.sweep(rates, concurrency);
            BenchReport.print(result, System.out);
            if (output != null) {
                JSON.writeValue(output.toFile(), result);
                System.err.println("result written to " + output);
            }
            if (plot != null) {
                BenchPlot.write(List.of(result), List.of(model), plot);
                System.err.println("plot written to " + plot);
            }
            return result.runs().stream().allMatch(r -> r.completed() > 0) ? 0 : 1;
        }
    }

    @Command(name = "compare", mixinStandardHelpOptions = true, description = "Two result files side by side, with the change.")
    static final class Compare implements Callable<Integer> {
        @Parameters(index = "0", description = "The baseline result (JSON from bench serve --output).")
        Path a;

        @Parameters(index = "1", description = "The result to compare with it.")
        Path b;

        @Option(names = "--plot", description = "Also plot both on one PNG.")
        Path plot;

        @Override
        public Integer call() throws Exception {
            BenchResult x = read(a);
            BenchResult y = read(b);
            String an = a.getFileName().toString().replaceAll("\\.json$", "");
            String bn = b.getFileName().toString().replaceAll("\\.json$", "");
            BenchReport.compare(x, an, y, bn, System.out);
            if (plot != null) {
                BenchPlot.write(List.of(x, y), List.of(an, bn), plot);
                System.err.println("plot written to " + plot);
            }
            return 0;
        }

        private static BenchResult read(Path p) throws java.io.IOException {
            if (!Files.isRegularFile(p)) {
                throw new CliError("no result file " + p);
            }
            return JSON.readValue(p.toFile(), BenchResult.class);
        }
    }

    static Duration parseDuration(String s) {
        String v = s.strip().toLowerCase(java.util.Locale.ROOT);
        try {
            if (v.endsWith("ms")) {
                return Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2)));
            }
            if (v.endsWith("s")) {
                return Duration.ofMillis((long) (Double.parseDouble(v.substring(0, v.length() - 1)) * 1000));
            }
            if (v.endsWith("m")) {
                return Duration.ofMillis((long) (Double.parseDouble(v.substring(0, v.length() - 1)) * 60_000));
            }
            return Duration.ofMillis((long) (Double.parseDouble(v) * 1000));
        } catch (NumberFormatException e) {
            throw new CliError("--duration: expected 30s, 500ms or 2m, not " + s);
        }
    }
}
