package io.spillway.server.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Drives an OpenAI-compatible server the way vLLM's serving benchmark does: chat completions with a
 * prompt of about {@code promptTokens} tokens and exactly {@code outputTokens} generated
 * ({@code max_tokens} with {@code ignore_eos}), offered either as a Poisson process at a request rate
 * (an open loop: arrivals do not wait for answers) or by a fixed number of clients each sending its
 * next request when the last one ends (a closed loop). Time to first token is to the first content
 * chunk; inter-token latency is the gap between content chunks; requests still running at the end of
 * the duration are waited for and counted.
 */
public final class ServeBenchmark {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] WORDS = ("the of and to in is that for it as was with be by on not he this are or his from at which but"
            + " have an they you were her all she there would their we him been has when who will more no if out so said what up its"
            + " about into than them can only other new some could time these two may then do first any my now such like our over man"
            + " me even most made after also did many before must through back years where much your way well down should because each"
            + " just those people how too little state good very make world still own see men work long get here between both life being"
            + " under never day same another know while last might us great old year off come since against go came right used take").split(" ");

    /** The settings of a run. */
    public record Settings(URI url, String model, String apiKey, int promptTokens, int outputTokens, Duration duration, boolean stream,
                           long seed, int warmupRequests) {
    }

    private final Settings settings;
    private final HttpClient http;

    public ServeBenchmark(Settings settings) {
        this.settings = settings;
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10))
                .executor(Executors.newVirtualThreadPerTaskExecutor()).build();
    }

    /** One request's outcome. */
    private record Sample(int status, double ttftMs, List<Double> itlMs, double e2eMs, int outputTokens, String route, String cache) {
    }

    /** Runs every offered load in turn; rates and concurrencies are each a sweep (either may be empty). */
    public BenchResult sweep(List<Double> rates, List<Integer> concurrencies) throws InterruptedException {
        String started = Instant.now().toString();
        List<BenchResult.Run> runs = new ArrayList<>();
        Random random = new Random(settings.seed());
        // Warm-up requests (JIT, caches, connections) are sent and not counted.
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < settings.warmupRequests(); i++) {
                String prompt = prompt(random);
                pool.submit(() -> send(prompt));
            }
        }
        for (double rate : rates) {
            runs.add(open(rate, random));
        }
        for (int c : concurrencies) {
            runs.add(closed(c, random));
        }
        return new BenchResult(settings.url().toString(), settings.model(), settings.promptTokens(), settings.outputTokens(),
                settings.duration().toMillis() / 1000.0, settings.stream(), started, runs);
    }

    private BenchResult.Run open(double rate, Random random) throws InterruptedException {
        ConcurrentLinkedQueue<Sample> samples = new ConcurrentLinkedQueue<>();
        long start = System.nanoTime();
        long end = start + settings.duration().toNanos();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            long next = start;
            while (true) {
                next += (long) (-Math.log(1 - random.nextDouble()) / rate * 1e9);
                if (next > end) {
                    break;
                }
                long wait = next - System.nanoTime();
                if (wait > 0) {
                    TimeUnit.NANOSECONDS.sleep(wait);
                }
                String prompt = prompt(random);
                pool.submit(() -> samples.add(send(prompt)));
            }
            // Rates are over the whole offered window, even when its last arrival came early.
            long idle = end - System.nanoTime();
            if (idle > 0) {
                TimeUnit.NANOSECONDS.sleep(idle);
            }
        }
        return summarize(rate, 0, samples, (System.nanoTime() - start) / 1e9);
    }

    private BenchResult.Run closed(int clients, Random random) throws InterruptedException {
        ConcurrentLinkedQueue<Sample> samples = new ConcurrentLinkedQueue<>();
        long start = System.nanoTime();
        long end = start + settings.duration().toNanos();
        AtomicBoolean stop = new AtomicBoolean();
        List<String> prompts = new ArrayList<>();
        for (int i = 0; i < 4 * clients + 64; i++) {
            prompts.add(prompt(random));
        }
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int c = 0; c < clients; c++) {
                int client = c;
                pool.submit(() -> {
                    int i = client;
                    while (!stop.get() && System.nanoTime() < end) {
                        samples.add(send(prompts.get(i++ % prompts.size())));
                    }
                });
            }
        }
        return summarize(0, clients, samples, (System.nanoTime() - start) / 1e9);
    }

    /** About {@code promptTokens} tokens of common English words (one token each in most vocabularies), unique per request. */
    private String prompt(Random random) {
        StringBuilder b = new StringBuilder().append(Long.toHexString(random.nextLong())).append(' ');
        for (int i = 1; i < settings.promptTokens(); i++) {
            b.append(WORDS[random.nextInt(WORDS.length)]).append(' ');
        }
        return b.toString().strip();
    }

    private Sample send(String prompt) {
        ObjectNode body = JSON.createObjectNode();
        body.put("model", settings.model());
        body.putArray("messages").addObject().put("role", "user").put("content", prompt);
        body.put("max_tokens", settings.outputTokens());
        body.put("ignore_eos", true);
        body.put("stream", settings.stream());
        if (settings.stream()) {
            body.putObject("stream_options").put("include_usage", true);
        }
        HttpRequest.Builder req = HttpRequest.newBuilder(settings.url().resolve("/v1/chat/completions")).timeout(Duration.ofMinutes(10))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.toString()));
        if (settings.apiKey() != null && !settings.apiKey().isBlank()) {
            req.header("Authorization", "Bearer " + settings.apiKey());
        }
        long start = System.nanoTime();
        try {
            HttpResponse<InputStream> r = http.send(req.build(), HttpResponse.BodyHandlers.ofInputStream());
            String route = r.headers().firstValue("x-spillway-route").orElse("unknown");
            String cache = r.headers().firstValue("x-spillway-cache").orElse("unknown");
            if (r.statusCode() != 200) {
                r.body().readAllBytes();
                return new Sample(r.statusCode(), Double.NaN, List.of(), Double.NaN, 0, route, cache);
            }
            double ttft = Double.NaN;
            List<Double> itl = new ArrayList<>();
            long last = 0;
            int tokens = 0;
            try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
                if (!settings.stream()) {
                    JsonNode done = JSON.readTree(in);
                    ttft = (System.nanoTime() - start) / 1e6;
                    tokens = done.path("usage").path("completion_tokens").asInt();
                } else {
                    String line;
                    while ((line = in.readLine()) != null) {
                        if (!line.startsWith("data: {")) {
                            continue;
                        }
                        JsonNode chunk = JSON.readTree(line.substring(6));
                        if (chunk.hasNonNull("usage")) {
                            tokens = chunk.path("usage").path("completion_tokens").asInt();
                        }
                        JsonNode delta = chunk.path("choices").path(0).path("delta").path("content");
                        if (delta.isTextual() && !delta.asText().isEmpty()) {
                            long now = System.nanoTime();
                            if (last == 0) {
                                ttft = (now - start) / 1e6;
                            } else {
                                itl.add((now - last) / 1e6);
                            }
                            last = now;
                        }
                    }
                }
            }
            return new Sample(200, ttft, itl, (System.nanoTime() - start) / 1e6, tokens, route, cache);
        } catch (Exception e) {
            return new Sample(-1, Double.NaN, List.of(), Double.NaN, 0, "none", "none");
        }
    }

    private static BenchResult.Run summarize(double rate, int concurrency, ConcurrentLinkedQueue<Sample> samples, double elapsed) {
        List<Double> ttft = new ArrayList<>();
        List<Double> itl = new ArrayList<>();
        List<Double> e2e = new ArrayList<>();
        Map<String, Integer> routes = new TreeMap<>();
        Map<String, Integer> cache = new TreeMap<>();
        Map<String, Integer> errors = new TreeMap<>();
        int completed = 0;
        long tokens = 0;
        for (Sample s : samples) {
            if (s.status() != 200) {
                errors.merge(s.status() < 0 ? "connection" : Integer.toString(s.status()), 1, Integer::sum);
                continue;
            }
            completed++;
            tokens += s.outputTokens();
            if (!Double.isNaN(s.ttftMs())) {
                ttft.add(s.ttftMs());
            }
            itl.addAll(s.itlMs());
            e2e.add(s.e2eMs());
            routes.merge(s.route(), 1, Integer::sum);
            cache.merge(s.cache(), 1, Integer::sum);
        }
        int errorCount = errors.values().stream().mapToInt(Integer::intValue).sum();
        return new BenchResult.Run(rate, concurrency, completed, errorCount, elapsed, completed / elapsed, tokens / elapsed,
                Percentiles.of(ttft), Percentiles.of(itl), Percentiles.of(e2e), routes, cache, errors);
    }
}
