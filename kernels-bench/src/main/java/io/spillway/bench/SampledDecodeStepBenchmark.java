package io.spillway.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.spillway.models.DummyShapes;
import io.spillway.models.LoadedModel;
import io.spillway.models.arch.DecoderModel;
import io.spillway.models.attention.GatherAttention;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.kv.PagedKvCache;
import io.spillway.models.runtime.HostCopies;
import io.spillway.models.sampling.DeviceSampler;
import io.spillway.models.sampling.Draw;
import io.spillway.models.sampling.SampleState;
import io.spillway.models.sampling.Sampler;
import io.spillway.models.sampling.SamplingParams;
import java.util.ArrayList;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One batch-16 decode step of a Qwen3-0.6B-shaped model (float32, CPU, random weights, context
 * 128), vocabulary 151,936: the forward pass and the choice of 16 tokens, ids on the host.
 *
 * <p>{@code pick}: {@code argmax}, the forward's logits through a plain argmax (the engine's old
 * all-greedy path); {@code greedy}, the device sampler with 16 greedy draws (the engine's path for
 * greedy requests now); {@code top_p_penalties}, the device sampler with temperature 0.8, top_p 0.9,
 * repetition 1.1, presence and frequency 0.5 over a 128-token prompt and 64 generated tokens per
 * row; {@code java_top_p_penalties}, the same draws the old way: every logit copied to the host and
 * Java's Sampler per row. The goal: top_p_penalties within 5 % of argmax. The forward pass streams
 * 2.4 GB of weights, so a shared machine's memory traffic moves it by more than 5 % from one fork
 * to the next: {@link SampledStepComparison} alternates the picks step by step in one process.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 1, time = 5)
@Measurement(iterations = 3, time = 5)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Dai.djl.offline=true", "-Xmx2g"})
public class SampledDecodeStepBenchmark {

    private static final int BATCH = 16;
    private static final int CONTEXT = 128;

    @Param({"argmax", "greedy", "top_p_penalties", "java_top_p_penalties"})
    String pick;

    private LoadedModel loaded;
    private NDManager owner;
    private GatherAttention attention;
    private ForwardBatch decode;
    private DeviceSampler device;
    private final Sampler java = new Sampler();
    private List<Draw> draws;
    private long lastPickNanos;

    @Setup(Level.Trial)
    public void load() {
        prepare(ModelShapes.load(DummyShapes.qwen3_0_6b()), pick);
    }

    /** Prepares a step over {@code shape}, which {@link #close} closes (the comparison's instances share one and close none). */
    void prepare(LoadedModel shape, String pick) {
        this.pick = pick;
        loaded = shape;
        DecoderModel model = loaded.model();
        int vocab = model.config().vocabSize();
        int blockSize = KvCacheSpec.DEFAULT_BLOCK_SIZE;
        int blocksPerSequence = (CONTEXT + 1 + blockSize - 1) / blockSize;
        owner = model.manager().newSubManager();
        PagedKvCache cache = PagedKvCache.allocate(
                KvCacheSpec.ofBlocks(model.config(), blockSize, model.target().dtype(), BATCH * blocksPerSequence + 1),
                model.target().device(), owner);
        attention = new GatherAttention(cache, model.config());
        device = new DeviceSampler(owner, model.target().device(), new HostCopies());
        Random random = new Random(42);
        List<SequenceChunk> prefill = new ArrayList<>();
        List<SequenceChunk> step = new ArrayList<>();
        draws = new ArrayList<>();
        for (int s = 0; s < BATCH; s++) {
            int[] table = new int[blocksPerSequence];
            for (int b = 0; b < table.length; b++) {
                table[b] = 1 + s * blocksPerSequence + b;
            }
            int[] prompt = random.ints(CONTEXT, 0, vocab).toArray();
            prefill.add(new SequenceChunk(prompt, 0, table, false));
            step.add(SequenceChunk.decode(random.nextInt(vocab), CONTEXT, table));
            SamplingParams p = pick.equals("greedy") ? SamplingParams.builder().temperature(0).build()
                    : SamplingParams.builder().temperature(0.8).topP(0.9).repetitionPenalty(1.1).presencePenalty(0.5)
                            .frequencyPenalty(0.5).maxTokens(1 << 20).build();
            SampleState state = new SampleState(p, 1000 + s, Set.of(151645), prompt);
            for (int i = 0; i < 64; i++) {
                state.accept(random.nextInt(vocab));
            }
            draws.add(new Draw(s, state));
        }
        try (NDManager m = model.manager().newSubManager()) {
            model.forward(ForwardBatch.of(prefill, blockSize), attention, m);
        }
        decode = ForwardBatch.of(step, blockSize);
    }

    @Benchmark
    public long step() {
        try (NDManager step = loaded.model().manager().newSubManager()) {
            NDArray logits = loaded.model().forward(decode, attention, step);
            long picking = System.nanoTime();
            long sum = 0;
            switch (pick) {
                case "argmax" -> {
                    for (long id : logits.argMax(1).toLongArray()) {
                        sum += id;
                    }
                }
                case "java_top_p_penalties" -> {
                    float[] host = logits.toFloatArray();
                    int vocab = (int) logits.getShape().get(1);
                    for (Draw d : draws) {
                        sum += java.sample(host, d.row() * vocab, vocab, d.state()).token();
                    }
                }
                default -> {
                    for (var s : device.sample(logits, draws, step)) {
                        sum += s.token();
                    }
                }
            }
            lastPickNanos = System.nanoTime() - picking;
            return sum;
        }
    }

    /** How long the last {@link #step}'s pick took, from the forward's logits to ids on the host. */
    long lastPickNanos() {
        return lastPickNanos;
    }

    @TearDown(Level.Trial)
    public void close() {
        closeStep();
        loaded.close();
    }

    void closeStep() {
        device.close();
        owner.close();
    }
}
