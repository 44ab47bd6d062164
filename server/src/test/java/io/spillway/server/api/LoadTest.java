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

    @Test
    void clientsThatDropMidStreamLeaveNoBlocksInUse() throws Exception {
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
    }

    private static void awaitIdle() throws InterruptedException {
        for (int i = 0; i < 3000; i++) {
            EngineStats s = server.engine().stats();
            if (s.running() == 0 && s.waiting() == 0) {
                return;
            }
            Thread.sleep(10);
        }
    }
}
