package io.spillway.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.server.platform.cache.CompletionReplay;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Encoding a completion as the Server-Sent Events a streaming client reads: the chunk objects of the
 * OpenAI stream format built with Jackson, serialized, framed as {@code data: ...\n\n} and encoded as
 * UTF-8 (the response cache's replay path, which builds the same chunks the generators send). Per
 * chunk, with the content length of a typical token or of a cached answer.
 *
 * <p>What the figure means: no hardware ceiling; it is CPU time on the event loop per chunk, to set
 * against the inter-token latency every streamed token waits for anyway.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1)
public class ChunkEncodingBenchmark {

    /** Characters of content per chunk: one token, or a whole cached answer. */
    @Param({"4", "2000"})
    int contentChars;

    private ObjectNode stored;
    private final Clock clock = Clock.systemUTC();

    @Setup(Level.Trial)
    public void prepare() throws Exception {
        String content = "x".repeat(contentChars);
        stored = (ObjectNode) new ObjectMapper().readTree("""
                {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "qwen3", "system_fingerprint": "fp_1",
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": "%s", "refusal": null}, "logprobs": null,
                 "finish_reason": "stop"}], "usage": {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46}}"""
                .formatted(content));
    }

    /** The answer's stream: role, content and finish chunks plus usage and [DONE]; per stream of 5 events. */
    @Benchmark
    public int encodeStream() {
        List<String> events = CompletionReplay.stream(stored, true, clock);
        int bytes = 0;
        for (String e : events) {
            bytes += ("data: " + e + "\n\n").getBytes(StandardCharsets.UTF_8).length;
        }
        return bytes;
    }
}
