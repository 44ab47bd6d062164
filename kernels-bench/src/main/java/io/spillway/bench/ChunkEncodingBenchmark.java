package io.spillway.bench;

import io.spillway.server.wire.FinishReason;
import io.spillway.server.wire.OpenAiEncoder;
import io.spillway.server.wire.ResponseHead;
import io.spillway.server.wire.Usage;
import java.util.Optional;
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
 * Encoding a completion as the Server-Sent Events a streaming client reads: the role, content and
 * finish chunks, the usage chunk and [DONE], written by the one OpenAI encoder straight to the
 * bytes that go on the wire. Per stream of 5 events, with the content of a typical token or of a
 * cached answer.
 *
 * <p>What the figure means: no hardware ceiling; it is CPU time on the event loop per stream, to
 * set against the inter-token latency every streamed token waits for anyway.
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

    private final OpenAiEncoder encoder = new OpenAiEncoder();
    private ResponseHead head;
    private String content;
    private final Usage usage = new Usage(12, 34, 0, 0);

    @Setup(Level.Trial)
    public void prepare() {
        content = "x".repeat(contentChars);
        head = new ResponseHead("chatcmpl-1", true, 1, "qwen3", Optional.of("fp_1"), Optional.of("local"), Optional.empty(), false,
                false, false, true);
    }

    @Benchmark
    public int encodeStream() {
        OpenAiEncoder.Chunks chunks = encoder.chunks(head);
        return chunks.role(0).length + chunks.delta(0, content, new int[] {42}, java.util.List.of()).length
                + chunks.finish(0, FinishReason.STOP, Optional.empty()).length + chunks.usage(usage).length + chunks.done().length;
    }
}
