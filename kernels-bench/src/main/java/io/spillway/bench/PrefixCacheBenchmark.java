package io.spillway.bench;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.models.DummyShapes;
import io.spillway.models.LoadedModel;
import io.spillway.models.sampling.SamplingParams;
import io.spillway.server.engine.Engine;
import io.spillway.server.engine.EngineConfig;
import io.spillway.server.engine.EngineRequest;
import io.spillway.server.engine.RequestStream;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Time to first token of a 1,032-token prompt (SmolLM2-135M shape, float32 CPU): {@code cold} has
 * never been seen; {@code sharedPrefix} shares its first 1,024 tokens with a request that finished
 * earlier, so only the last 8 tokens are computed. The ratio is what prefix caching buys a chat
 * with a long system prompt or a RAG request over the same documents.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 1, time = 5)
@Measurement(iterations = 3, time = 10)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Dai.djl.offline=true", "-Xmx4g"})
public class PrefixCacheBenchmark {

    static final int PREFIX = 1024;
    static final int SUFFIX = 8;

    private LoadedModel model;
    private Engine engine;
    private int[] sharedPrefix;
    private final Random random = new Random(8);
    private final AtomicLong ids = new AtomicLong();

    @Setup(Level.Trial)
    public void start() throws Exception {
        engine = Engine.start(ModelShapes.options(DummyShapes.smolLm2_135m()), EngineConfig.defaults(false), new PrometheusRegistry());
        model = engine.model();
        sharedPrefix = random.ints(PREFIX, 3, model.config().vocabSize()).toArray();
        // The "finished one": computes the prefix once; its full blocks stay in the cache.
        firstToken(prompt(sharedPrefix));
    }

    private int[] prompt(int[] prefix) {
        int[] p = Arrays.copyOf(prefix, PREFIX + SUFFIX);
        for (int i = PREFIX; i < p.length; i++) {
            p[i] = 3 + random.nextInt(model.config().vocabSize() - 3);
        }
        return p;
    }

    private int firstToken(int[] prompt) throws Exception {
        SamplingParams params = SamplingParams.builder().temperature(0).maxTokens(2).build();
        RequestStream stream = engine.submit(new EngineRequest("p" + ids.incrementAndGet(), prompt, params, ""));
        CompletableFuture<Integer> first = new CompletableFuture<>();
        CompletableFuture<Void> done = new CompletableFuture<>();
        stream.subscribe(Runnable::run, d -> {
            if (d.tokenIds().length > 0) {
                first.complete(d.tokenIds()[0]);
            }
            if (d.usage() != null) {
                done.complete(null);
            }
        });
        int token = first.get(5, TimeUnit.MINUTES);
        done.get(5, TimeUnit.MINUTES);
        return token;
    }

    @Benchmark
    public int cold() throws Exception {
        return firstToken(prompt(random.ints(PREFIX, 3, model.config().vocabSize()).toArray()));
    }

    @Benchmark
    public int sharedPrefix() throws Exception {
        return firstToken(prompt(sharedPrefix));
    }

    @TearDown(Level.Trial)
    public void stop() {
        engine.close();
    }
}
