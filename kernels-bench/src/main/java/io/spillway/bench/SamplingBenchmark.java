package io.spillway.bench;

import io.spillway.models.sampling.Sample;
import io.spillway.models.sampling.SampleState;
import io.spillway.models.sampling.Sampler;
import io.spillway.models.sampling.SamplingParams;
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
 * Picking one token from one row of logits on the CPU, as the engine does for every sampled sequence
 * each step: greedy, temperature with top-k, temperature with top-p, and top-p with repetition,
 * presence and frequency penalties over a 256-token history. Vocabularies of SmolLM2 (49,152) and
 * Qwen (151,936).
 *
 * <p>What the figure means: the floor is one pass over the row, {@code vocab * 4} bytes at memory
 * bandwidth (from cache, well under a microsecond per 49k row); anything above is the cost of
 * selection (top-k / top-p) and penalties, paid per sequence per step, so compare it with a decode
 * step's time divided by the batch.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class SamplingBenchmark {

    @Param({"49152", "151936"})
    int vocab;

    @Param({"greedy", "top_k_50", "top_p_0.9", "top_p_penalties"})
    String method;

    private final Sampler sampler = new Sampler();
    private float[] logits;
    private SampleState state;

    @Setup(Level.Trial)
    public void prepare() {
        Random random = new Random(7);
        logits = new float[vocab];
        for (int i = 0; i < vocab; i++) {
            // Roughly what a trained model gives: a long tail and a few strong candidates.
            logits[i] = (float) (random.nextGaussian() * 2);
        }
        for (int i = 0; i < 20; i++) {
            logits[random.nextInt(vocab)] += 8;
        }
        SamplingParams.Builder p = SamplingParams.builder().maxTokens(1 << 20);
        switch (method) {
            case "greedy" -> p.temperature(0);
            case "top_k_50" -> p.temperature(0.8).topK(50);
            case "top_p_0.9" -> p.temperature(0.8).topP(0.9);
            case "top_p_penalties" -> p.temperature(0.8).topP(0.9).repetitionPenalty(1.1).presencePenalty(0.5).frequencyPenalty(0.5);
            default -> throw new IllegalArgumentException(method);
        }
        int[] prompt = random.ints(256, 0, vocab).toArray();
        state = new SampleState(p.build(), 42, Set.of(), prompt);
        for (int i = 0; i < 64; i++) {
            state.accept(random.nextInt(vocab));
        }
    }

    @Benchmark
    public int sample() {
        Sample s = sampler.sample(logits, 0, vocab, state);
        return s.token();
    }
}
