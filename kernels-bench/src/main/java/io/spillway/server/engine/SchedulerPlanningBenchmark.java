package io.spillway.server.engine;

import io.spillway.models.kv.KvCacheManager;
import io.spillway.models.sampling.SampleState;
import io.spillway.models.sampling.SamplingParams;
import java.util.List;
import java.util.Random;
import java.util.Set;
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
 * The scheduler's planning of one step with thousands of requests waiting (in the engine's package,
 * so it drives the real {@code Scheduler} and {@code KvCacheManager}): 256 running sequences decoding
 * (one token each, a KV block claimed whenever one fills) while the queue holds {@code waiting}
 * 128-token prompts, with prefix caching on. The state advances every step as the engine's would.
 *
 * <p>What the figure means: no hardware ceiling; it is engine-thread time per step, to set against a
 * GPU decode step of a few milliseconds, which it must stay far below at any queue length.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1)
public class SchedulerPlanningBenchmark {

    @Param({"1000", "10000"})
    int waiting;

    private Scheduler scheduler;
    private KvCacheManager kv;
    private Random random;
    private int ids;

    @Setup(Level.Iteration)
    public void fill() {
        random = new Random(3);
        EngineConfig config = new EngineConfig(256, 2048, 2048, 16, 1L << 30, 0.9, true, 100_000, 100_000_000, java.time.Duration.ZERO, 0,
                EngineConfig.DEFAULT_TRANSIENT_BUDGET_BYTES);
        kv = new KvCacheManager(256 * 32 + 2048, 16, true);
        scheduler = new Scheduler(config, kv,
                StepTransient.of(io.spillway.models.checkpoint.ModelConfig.parse(io.spillway.models.DummyShapes.smolLm2_135m()), 4));
        for (int i = 0; i < 256 + waiting; i++) {
            scheduler.addWaiting(newSequence(kv));
        }
        // Admit until every slot runs and every admitted prompt is computed.
        for (int i = 0; i < 64 && scheduler.runningCount() < 256; i++) {
            advance(scheduler.schedule());
        }
    }

    private Sequence newSequence(KvCacheManager kv) {
        int[] prompt = random.ints(128, 0, 32000).toArray();
        String id = "r" + ids++;
        SamplingParams p = SamplingParams.builder().temperature(0).maxTokens(1 << 20).build();
        RequestState r = new RequestState(new EngineRequest(id, prompt, p, ""), new RequestStream(id, () -> { }, held -> { }), System.nanoTime(), 0);
        int[] tokens = java.util.Arrays.copyOf(prompt, 128 + 256 + 1);
        return new Sequence(r, 0, tokens, prompt.length, prompt.length, new SampleState(p, 1, Set.of(), prompt), null, kv.newSequence(""));
    }

    /**
     * What the engine does after the forward pass: tokens computed, a sampled token appended to each
     * sequence whose tokens are all computed, and a sequence that has generated 256 tokens finished
     * (its blocks freed) and replaced by a new request at the back of the queue, so the queue and
     * the running set keep their sizes however many steps run.
     */
    private void advance(List<Scheduler.Scheduled> batch) {
        for (Scheduler.Scheduled s : batch) {
            Sequence seq = s.sequence();
            seq.computed += s.tokens();
            kv.commitFullBlocks(seq.blocks, seq.tokens(), seq.computed);
            if (seq.computed == seq.length()) {
                if (seq.length() >= 128 + 256) {
                    scheduler.remove(seq);
                    scheduler.addWaiting(newSequence(kv));
                } else {
                    seq.settle(random.nextInt(32000));
                }
            }
        }
    }

    @Benchmark
    public int planStep() {
        List<Scheduler.Scheduled> batch = scheduler.schedule();
        advance(batch);
        return batch.size();
    }
}
