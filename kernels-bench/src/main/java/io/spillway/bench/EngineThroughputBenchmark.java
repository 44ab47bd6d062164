package io.spillway.bench;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.models.LoadedModel;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.arch.ProjectionLayout;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.sampling.SamplingParams;
import io.spillway.server.embeddings.EmbeddingModel;
import io.spillway.server.embeddings.EmbeddingModelSource;
import io.spillway.server.embeddings.EmbeddingService;
import io.spillway.server.engine.Engine;
import io.spillway.server.engine.EngineConfig;
import io.spillway.server.engine.EngineRequest;
import io.spillway.server.engine.RequestStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Continuous batching end to end: {@code concurrency} requests of a {@code promptTokens}-token
 * prompt and 64 output tokens submitted together to the engine (SmolLM2-135M shape, random
 * weights, CPU; {@code weights} float32, int8 on load or an AWQ int4 checkpoint's layout), every
 * prompt distinct. One operation is the whole wave; output tokens/s = concurrency * 64 / (seconds
 * per op).
 *
 * <p>What it means: at concurrency 1 a step is bound by reading the weights (see
 * {@link DecodeStepBenchmark}); batching shares that read between sequences until the step becomes
 * compute-bound (about 200 GFLOP/s of float32 GEMM on the 2-core machine this was written on).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 3)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Dai.djl.offline=true", "-Xmx4g"})
public class EngineThroughputBenchmark {

    static final int OUTPUT = 64;

    @Param({"1", "4", "16", "64"})
    int concurrency;

    /** Tokens of every prompt: long ones show what attention over a long context costs a batch. */
    @Param({"128"})
    int promptTokens;

    /** As {@link ModelShapes#smolLm2_135m(String)} takes it: none (float32), int8, awq-int4, awq-int4+lm-head=int8. */
    @Param({"none"})
    String weights;

    /** As {@link ProjectionLayout#parse} takes it: auto, or a layout to compare (row-blocks, row-blocks+onednn). */
    @Param({"auto"})
    String projections;

    /** As {@link AttentionChoice#parse} takes it: auto, or a backend to compare (gather, gather-native). */
    @Param({"auto"})
    String attention;

    /**
     * Beside the wave, a query embedded by the built-in embedding model (ONNX Runtime) again and
     * again with a pause of this many milliseconds between, as a RAG deployment embeds on the same
     * cores; 0 for none.
     */
    @Param({"0"})
    int embedPauseMillis;

    /**
     * How every request picks its tokens: {@code greedy} (temperature 0) or {@code top-p}
     * (temperature 0.8, top_p 0.9), so that the forward's cost and the sampler's can be told apart.
     */
    @Param({"greedy"})
    String sampling;

    private LoadedModel model;
    private Engine engine;
    private EmbeddingService embeddings;
    private Thread embedder;
    /** Why the embedding load stopped before the trial ended, if it did. */
    private final AtomicReference<Throwable> embedderFailure = new AtomicReference<>();
    private final Random random = new Random(5);
    private final AtomicLong ids = new AtomicLong();
    private SamplingParams params;

    @Setup(Level.Trial)
    public void start() {
        params = samplingParams();
        ModelLoadOptions options = ModelShapes.smolLm2_135m(weights).withAttention(AttentionChoice.parse(attention));
        ProjectionLayout layout = ProjectionLayout.parse(projections);
        engine = Engine.start(layout == null ? options : options.withProjectionLayout(layout), EngineConfig.defaults(false),
                new PrometheusRegistry());
        model = engine.model();
        if (embedPauseMillis > 0) {
            try {
                startEmbedding();
            } catch (RuntimeException | Error e) {
                try {
                    engine.close();
                } catch (RuntimeException closing) {
                    e.addSuppressed(closing);
                }
                throw e;
            }
        }
    }

    private void startEmbedding() {
        try {
            embeddings = new EmbeddingService(EmbeddingModel.load(EmbeddingModelSource.builtin(), "cpu"), 32, Duration.ofMillis(5), 1_000,
                    new PrometheusRegistry());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        embedder = Thread.ofPlatform().daemon().name("bench-embedder").start(() -> {
            try {
                while (!Thread.currentThread().isInterrupted()) {
                    embeddings.embedTexts(List.of("which step of the pipeline returns the retrieved passages?")).join();
                    Thread.sleep(embedPauseMillis);
                }
            } catch (InterruptedException stopped) {
                // the trial ended
            } catch (Throwable e) {
                embedderFailure.set(e);
            }
        });
    }

    private SamplingParams samplingParams() {
        SamplingParams.Builder builder = switch (sampling) {
            case "greedy" -> SamplingParams.builder().temperature(0);
            case "top-p" -> SamplingParams.builder().temperature(0.8).topP(0.9);
            default -> throw new IllegalArgumentException("sampling must be greedy or top-p, not " + sampling);
        };
        return builder.maxTokens(OUTPUT).ignoreEos(true).build();
    }

    @Benchmark
    public long wave() throws Exception {
        List<CompletableFuture<RequestStream.CompletedRequest>> wave = new ArrayList<>(concurrency);
        for (int i = 0; i < concurrency; i++) {
            // Fresh random prompts: no prefix-cache help between waves.
            int[] prompt = random.ints(promptTokens, 3, model.config().vocabSize()).toArray();
            wave.add(engine.submit(new EngineRequest("w" + ids.incrementAndGet(), prompt, params, "")).collect());
        }
        long tokens = 0;
        for (CompletableFuture<RequestStream.CompletedRequest> f : wave) {
            tokens += f.get(30, TimeUnit.MINUTES).usage().completionTokens();
        }
        requireEmbeddingLoad();
        return tokens;
    }

    @TearDown(Level.Trial)
    public void stop() throws InterruptedException {
        try {
            if (embedder != null) {
                embedder.interrupt();
                embedder.join();
                embeddings.close();
            }
        } finally {
            engine.close();
        }
    }

    /** A wave timed without the load it was asked to run beside would pass for one that had it. */
    private void requireEmbeddingLoad() {
        Throwable failure = embedderFailure.get();
        if (failure != null || (embedder != null && !embedder.isAlive())) {
            throw new IllegalStateException("the embedding load beside the wave stopped", failure);
        }
    }
}
