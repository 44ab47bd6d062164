package io.spillway.server.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.server.SpillwayServer;
import io.spillway.server.engine.EngineStats;
import io.spillway.server.testing.RawHttp;
import io.spillway.server.testing.TestServers;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Many streaming clients at once on loopback, and clients that hang up mid-stream. */
class LoadTest {

    /**
     * Engine steps a request may still take once its client has closed the connection: the time
     * for the event loop to see the close and for the engine to take the abort before its next
     * step, on a busy 2-core machine.
     */
    private static final long MAX_STEPS_AFTER_DROP = 32;
    private static SpillwayServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestServers.demo();
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    private static String body(int maxTokens, int i) {
        return "{\"model\":\"spillway-demo\",\"stream\":true,\"max_tokens\":" + maxTokens + ",\"ignore_eos\":true,"
                + "\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":\"client " + i + " says hi\"}]}";
    }

    @Test
    void twoHundredFiftySixConcurrentStreamsAllComplete() throws Exception {
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .executor(Executors.newVirtualThreadPerTaskExecutor()).build();
        List<CompletableFuture<HttpResponse<Stream<String>>>> all = new ArrayList<>();
        for (int i = 0; i < 256; i++) {
            HttpRequest request = HttpRequest.newBuilder(URI.create(TestServers.baseUrl(server) + "/v1/chat/completions"))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body(24, i))).build();
            all.add(client.sendAsync(request, HttpResponse.BodyHandlers.ofLines()));
        }
        int done = 0;
        for (CompletableFuture<HttpResponse<Stream<String>>> f : all) {
            HttpResponse<Stream<String>> r = f.get(5, TimeUnit.MINUTES);
            assertEquals(200, r.statusCode());
            List<String> data = r.body().filter(l -> l.startsWith("data: ")).toList();
            assertEquals("data: [DONE]", data.get(data.size() - 1));
            assertTrue(data.get(data.size() - 2).contains("\"completion_tokens\":24"), data.get(data.size() - 2));
            assertTrue(data.stream().noneMatch(l -> l.contains("\"error\"")));
            done++;
        }
        assertEquals(256, done);
        awaitIdle();
        assertEquals(0, server.engine().stats().kvBlocksUsed());
    }

    /** Samples the engine has finished for {@code reason}, from /metrics. */
    private static double finished(String reason) throws Exception {
        String metrics = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(TestServers.baseUrl(server) + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        String prefix = "spillway_engine_requests_finished_total{reason=\"" + reason + "\"} ";
        return metrics.lines().filter(l -> l.startsWith(prefix)).mapToDouble(l -> Double.parseDouble(l.substring(prefix.length())))
                .findFirst().orElse(0);
    }

    @Test
    void clientsThatDropMidStreamLeaveNoBlocksInUse() throws Exception {
        awaitIdle();
        double abortsBefore = finished("abort");
        double lengthsBefore = finished("length");
        long generatedBefore = server.engine().stats().generatedTokens();
        ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
        List<CompletableFuture<Integer>> dropped = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            int n = i;
            dropped.add(CompletableFuture.supplyAsync(() -> {
                try (Socket socket = new Socket("127.0.0.1", server.port())) {
                    socket.getOutputStream().write(RawHttp.postJson("/v1/chat/completions", body(1500, n)));
                    BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
                    int chunks = 0;
                    String line;
                    while (chunks < 3 + n % 5 && (line = in.readLine()) != null) {
                        if (line.startsWith("data: ")) {
                            chunks++;
                        }
                    }
                    return chunks;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }, pool));
        }
        for (CompletableFuture<Integer> f : dropped) {
            assertTrue(f.get(5, TimeUnit.MINUTES) >= 3, "each client read some of its stream before hanging up");
        }
        awaitIdle();
        EngineStats s = server.engine().stats();
        assertEquals(0, s.running(), "no dropped request keeps generating");
        assertEquals(0, s.kvBlocksUsed(), "KV blocks in use after 100 clients dropped mid-stream");
        // Ending naturally would also leave the engine idle: each request must have been aborted,
        // long before its 1,500 tokens.
        assertEquals(100, finished("abort") - abortsBefore, "every dropped request ends as aborted");
        assertEquals(0, finished("length") - lengthsBefore, "none ran to max_tokens");
        long generated = s.generatedTokens() - generatedBefore;
        System.out.printf("load: 100 clients dropped after 3-7 chunks of 1,500 tokens: %d tokens generated in all%n", generated);
        assertTrue(generated < 100 * 1500 / 10, generated + " tokens generated for 100 dropped requests");
    }

    @Test
    void aDroppedClientsGenerationStopsWithinAFewSteps() throws Exception {
        awaitIdle();
        double abortsBefore = finished("abort");
        long generatedBefore = server.engine().stats().generatedTokens();
        long stepsAtClose;
        try (Socket socket = new Socket("127.0.0.1", server.port())) {
            socket.getOutputStream().write(RawHttp.postJson("/v1/chat/completions", body(2000, 0)));
            BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
            int chunks = 0;
            String line;
            while (chunks < 3 && (line = in.readLine()) != null) {
                chunks += line.startsWith("data: ") ? 1 : 0;
            }
            assertEquals(3, chunks);
            stepsAtClose = server.engine().stats().steps();
        }
        awaitIdle();
        EngineStats s = server.engine().stats();
        long stepsAfterClose = s.steps() - stepsAtClose;
        long generated = s.generatedTokens() - generatedBefore;
        System.out.printf("load: a client dropped after 3 chunks: %d engine steps after it closed, %d tokens generated of 2,000%n",
                stepsAfterClose, generated);
        assertEquals(1, finished("abort") - abortsBefore, "the request ended as aborted");
        assertTrue(stepsAfterClose <= MAX_STEPS_AFTER_DROP, stepsAfterClose + " engine steps ran after the client had gone");
        assertTrue(generated < 2000, "stopped before max_tokens: " + generated);
    }

    /** Waits for the engine to have nothing running or waiting; fails after a generous minute. */
    private static void awaitIdle() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        EngineStats s = server.engine().stats();
        while (s.running() != 0 || s.waiting() != 0) {
            assertTrue(System.nanoTime() < deadline, "the engine is still busy after a minute: " + s);
            Thread.sleep(10);
            s = server.engine().stats();
        }
    }
}
