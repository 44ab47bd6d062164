package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDManager;
import io.spillway.models.LoadedModel;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.attention.AttentionBackend;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.attention.GatherAttention;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.checkpoint.TensorDType;
import io.spillway.models.kv.KvCacheManager;
import io.spillway.models.kv.SequenceBlocks;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.kv.PagedKvCache;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.NativeOperators;
import io.spillway.models.testing.ReferenceTransformer;
import io.spillway.models.testing.TinyCheckpoint;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.BiFunction;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every architecture feature against the independent float64 {@link ReferenceTransformer} on tiny
 * random checkpoints. Two sequences run together through chunked prefills, a mixed
 * prefill-and-decode step and plain decodes, with a small block size so block tables span several
 * non-contiguous blocks; logits at every chunk's last position must agree within 1e-4.
 *
 * <p>Each runs with both projection layouts: the CPU's row blocks and a GPU's plain 2-D weights,
 * whose {@code torch.linear} branch of the script the CPU would otherwise never take.
 */
class ReferenceParityTest {

    private static final double TOLERANCE = 1e-4;

    @TempDir
    Path temp;

    static Stream<Arguments> variantsInEachLayout() {
        return variants().flatMap(v -> Stream.of(ProjectionLayout.values())
                .map(layout -> Arguments.of(v.get()[0] + "-" + layout.name().toLowerCase(java.util.Locale.ROOT), v.get()[1], layout)));
    }

    static Stream<Arguments> variants() {
        return Stream.of(
                Arguments.of("llama-gqa-untied", TinyCheckpoint.llama()),
                Arguments.of("llama-mqa-tied", TinyCheckpoint.llama().set("num_key_value_heads", 1).set("tie_word_embeddings", true)),
                Arguments.of("qwen2-qkv-bias", TinyCheckpoint.llama().architecture("Qwen2ForCausalLM").set("tie_word_embeddings", true)),
                Arguments.of("qwen3-qk-norm", TinyCheckpoint.llama().architecture("Qwen3ForCausalLM").set("head_dim", 32)),
                Arguments.of("llama3-rope-scaling", TinyCheckpoint.llama().set("rope_theta", 500000.0)
                        .set("rope_scaling", Map.of("rope_type", "llama3", "factor", 8.0, "low_freq_factor", 1.0,
                                "high_freq_factor", 4.0, "original_max_position_embeddings", 16))),
                Arguments.of("linear-rope-scaling", TinyCheckpoint.llama().set("rope_scaling", Map.of("type", "linear", "factor", 2.0))),
                Arguments.of("llama-attention-bias", TinyCheckpoint.llama().set("attention_bias", true)),
                Arguments.of("mistral-sliding-window", TinyCheckpoint.llama().architecture("MistralForCausalLM").set("sliding_window", 6)),
                Arguments.of("bf16-storage-sharded", TinyCheckpoint.llama().dtype(TensorDType.BF16).shards(3)),
                Arguments.of("f16-storage", TinyCheckpoint.llama().dtype(TensorDType.F16)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("variantsInEachLayout")
    void logitsMatchTheFloat64Reference(String name, TinyCheckpoint checkpoint, ProjectionLayout layout) throws Exception {
        double worst = maxLogitError(checkpoint.writeTo(temp.resolve(name)), name, ComputeTarget.cpuFloat32(), layout, AttentionChoice.GATHER::create);
        System.out.printf("parity %-35s float32 max |logit diff| %.3g%n", name, worst);
        assertTrue(worst < TOLERANCE, name + ": max |logit - reference| = " + worst);
    }

    /**
     * The CPU's default where Spillway's native operators are registered: one-query groups (every
     * decode of the ragged batch, under its masks and sliding windows) attended by
     * {@code spillway::decode_attention}, held to the same reference.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("variants")
    void nativeDecodesMatchTheFloat64Reference(String name, TinyCheckpoint checkpoint) throws Exception {
        assumeTrue(NativeOperators.registered(), "not registered here: " + NativeOperators.registration());
        double worst = maxLogitError(checkpoint.writeTo(temp.resolve(name)), name, ComputeTarget.cpuFloat32(), ProjectionLayout.ROW_BLOCKS,
                AttentionChoice.GATHER_NATIVE::create);
        System.out.printf("parity %-35s float32, native decodes, max |logit diff| %.3g%n", name, worst);
        assertTrue(worst < TOLERANCE, name + " with native decodes: max |logit - reference| = " + worst);
    }

    /**
     * bfloat16 has 8 bits of mantissa where float16 has 11, so its error is some 8x float16's:
     * measured 0.060-0.138 over these variants (float16: 0.008-0.023), on logits of magnitude ~1-5,
     * so a few 1e-2 relative; the bound is 1.8x the worst seen. The run is the GPU default on Ampere
     * and later (weights and cache as bfloat16 containers, statistics in float32), on the CPU.
     */
    static final double BF16_TOLERANCE = 0.25;

    @ParameterizedTest(name = "{0}")
    @MethodSource("variantsInEachLayout")
    void bfloat16StaysCloseToTheReference(String name, TinyCheckpoint checkpoint, ProjectionLayout layout) throws Exception {
        assertCloseInSixteenBits(name, checkpoint, layout, ai.djl.ndarray.types.DataType.BFLOAT16, BF16_TOLERANCE);
    }

    /**
     * float16 is the GPU default before Ampere, so its code path (half-precision
     * weights and cache, float32 norm statistics and softmax) must run and stay close on the CPU too;
     * with the LINEAR layout this is a GPU's whole configuration, in libtorch's CPU kernels.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("variantsInEachLayout")
    void float16StaysCloseToTheReference(String name, TinyCheckpoint checkpoint, ProjectionLayout layout) throws Exception {
        assertCloseInSixteenBits(name, checkpoint, layout, ai.djl.ndarray.types.DataType.FLOAT16, 0.05);
    }

    private void assertCloseInSixteenBits(String name, TinyCheckpoint checkpoint, ProjectionLayout layout,
                                          ai.djl.ndarray.types.DataType dtype, double bound) throws Exception {
        double worst = maxLogitError(checkpoint.writeTo(temp.resolve(name)), name, new ComputeTarget(ai.djl.Device.cpu(), dtype), layout,
                AttentionChoice.GATHER::create);
        System.out.printf("parity %-35s %s max |logit diff| %.3g%n", name, dtype, worst);
        assertTrue(worst < bound, name + " in " + dtype + ": max |logit - reference| = " + worst);
    }

    static Stream<Arguments> variantsSplitSmall() {
        // Sixteen query heads of four on two KV heads: the variants whose chunks split by queries (see fewestQueriesPerSpan).
        Stream<Arguments> manyHeads = Stream.of(
                Arguments.of("llama-sixteen-heads", TinyCheckpoint.llama().set("num_attention_heads", 16)),
                Arguments.of("mistral-sixteen-heads", TinyCheckpoint.llama().architecture("MistralForCausalLM").set("sliding_window", 6)
                        .set("num_attention_heads", 16)));
        return Stream.concat(variants(), manyHeads)
                .flatMap(v -> Stream.of(1L, 1100L, 4096L).map(bytes -> Arguments.of(v.get()[0] + "-split-at-" + bytes, v.get()[1], bytes)));
    }

    /**
     * The gather plan split into runs of spans (GatherAttention's bound on a group's largest
     * tensor), held to the same reference in float32 and bfloat16. At one byte every sequence
     * attends alone, and with sixteen query heads every prompt chunk one query at a time, each over
     * only the context its query sees; at 1,100 bytes, with sixteen heads, B's 7-token chunk splits
     * into spans of 2, 2, 2 and 1, the first two in one padded run; at 4,096 bytes (two sequences at
     * context 8, in this model) the first chunks still attend together, padded, and the decodes split.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("variantsSplitSmall")
    void gatherSplitIntoSmallRunsMatchesTheReference(String name, TinyCheckpoint checkpoint, long largestTensorBytes) throws Exception {
        Path dir = checkpoint.writeTo(temp.resolve(name));
        BiFunction<PagedKvCache, ModelConfig, AttentionBackend> split = (cache, config) -> new GatherAttention(cache, config, largestTensorBytes, false);
        double worst = maxLogitError(dir, name, ComputeTarget.cpuFloat32(), ProjectionLayout.ROW_BLOCKS, split);
        System.out.printf("parity %-35s float32 max |logit diff| %.3g%n", name, worst);
        assertTrue(worst < TOLERANCE, name + ": max |logit - reference| = " + worst);
        if (NativeOperators.registered()) {
            double nativeWorst = maxLogitError(dir, name, ComputeTarget.cpuFloat32(), ProjectionLayout.ROW_BLOCKS,
                    (cache, config) -> new GatherAttention(cache, config, largestTensorBytes, true));
            System.out.printf("parity %-35s float32, native decodes, max |logit diff| %.3g%n", name, nativeWorst);
            assertTrue(nativeWorst < TOLERANCE, name + " with native decodes: max |logit - reference| = " + nativeWorst);
        }
        ComputeTarget bf16 = new ComputeTarget(ai.djl.Device.cpu(), ai.djl.ndarray.types.DataType.BFLOAT16);
        double bf16Worst = maxLogitError(dir, name, bf16, ProjectionLayout.ROW_BLOCKS, split);
        System.out.printf("parity %-35s bfloat16 max |logit diff| %.3g%n", name, bf16Worst);
        assertTrue(bf16Worst < BF16_TOLERANCE, name + " in bfloat16: max |logit - reference| = " + bf16Worst);
    }

    static Stream<Arguments> variantsWithBlockTables() {
        return variants().flatMap(v -> Stream.of(AttentionChoice.BLOCKS_MATMUL, AttentionChoice.BLOCKS_SDPA)
                .map(choice -> Arguments.of(v.get()[0] + "-" + choice.name().toLowerCase(java.util.Locale.ROOT), v.get()[1], choice)));
    }

    /**
     * The block-table plan (masks from positions on the device, whole blocks gathered, and SDPA with
     * grouped-query heads) on the same ragged, chunked, windowed batches as the gather path, held to
     * the same float64 reference; SDPA in float16 with the GPU's projection layout is the CUDA
     * path's whole configuration, in libtorch's CPU kernels.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("variantsWithBlockTables")
    void blockTableAttentionMatchesTheReference(String name, TinyCheckpoint checkpoint, AttentionChoice choice) throws Exception {
        Path dir = checkpoint.writeTo(temp.resolve(name));
        double worst = maxLogitError(dir, name, ComputeTarget.cpuFloat32(), ProjectionLayout.ROW_BLOCKS, choice::create);
        System.out.printf("parity %-35s float32 max |logit diff| %.3g%n", name, worst);
        assertTrue(worst < TOLERANCE, name + ": max |logit - reference| = " + worst);
        if (choice == AttentionChoice.BLOCKS_SDPA) {
            ComputeTarget half = new ComputeTarget(ai.djl.Device.cpu(), ai.djl.ndarray.types.DataType.FLOAT16);
            double halfWorst = maxLogitError(dir, name, half, ProjectionLayout.LINEAR, choice::create);
            System.out.printf("parity %-35s float16 linear max |logit diff| %.3g%n", name, halfWorst);
            assertTrue(halfWorst < 0.05, name + " in float16: max |logit - reference| = " + halfWorst);
            ComputeTarget bf16 = new ComputeTarget(ai.djl.Device.cpu(), ai.djl.ndarray.types.DataType.BFLOAT16);
            double bf16Worst = maxLogitError(dir, name, bf16, ProjectionLayout.LINEAR, choice::create);
            System.out.printf("parity %-35s bfloat16 linear max |logit diff| %.3g%n", name, bf16Worst);
            assertTrue(bf16Worst < BF16_TOLERANCE, name + " in bfloat16: max |logit - reference| = " + bf16Worst);
        }
    }

    private static double maxLogitError(Path dir, String name, ComputeTarget target, ProjectionLayout layout,
                                        BiFunction<PagedKvCache, ModelConfig, AttentionBackend> attention) throws Exception {
        ReferenceTransformer reference = new ReferenceTransformer(dir);
        Random random = new Random(name.hashCode());
        int[] a = randomTokens(random, 15, 96);
        int[] b = randomTokens(random, 12, 96);
        double[][] refA = reference.logits(a);
        double[][] refB = reference.logits(b);

        try (LoadedModel loaded = LoadedModel.load(ModelLoadOptions.of(dir, target).withProjectionLayout(layout))) {
            ProjectionLayouts.requireApplied(loaded.model(), layout);
            List<float[]> steps = raggedSteps(loaded.model(), attention, a, b);
            int vocab = loaded.model().config().vocabSize();
            double worst = 0;
            for (int step = 0; step < CHUNKS_A.length; step++) {
                worst = Math.max(worst, maxDiff(steps.get(step), 0, refA[CHUNKS_A[step][1] - 1]));
                if (step < CHUNKS_B.length) {
                    worst = Math.max(worst, maxDiff(steps.get(step), vocab, refB[CHUNKS_B[step][1] - 1]));
                }
            }
            return worst;
        }
    }

    /** A: chunks of 3, 3, 5 tokens, then 4 decodes. B: a 7-token prefill, then 5 decodes. */
    private static final int[][] CHUNKS_A = {{0, 3}, {3, 6}, {6, 11}, {11, 12}, {12, 13}, {13, 14}, {14, 15}};
    private static final int[][] CHUNKS_B = {{0, 7}, {7, 8}, {8, 9}, {9, 10}, {10, 11}, {11, 12}};

    /**
     * Runs 15 tokens of {@code a} and 12 of {@code b} as a ragged, chunked batch ({@link #CHUNKS_A},
     * {@link #CHUNKS_B}) over blocks of 4 scattered through the cache, and returns each step's
     * logits: a's row, then b's while it runs.
     */
    static List<float[]> raggedSteps(DecoderModel model, BiFunction<PagedKvCache, ModelConfig, AttentionBackend> attentionFor, int[] a,
                                     int[] b) {
        try (NDManager owner = model.manager().newSubManager()) {
            int blockSize = 4;
            KvCacheSpec spec = KvCacheSpec.ofBlocks(model.config(), blockSize, model.target().dtype(), 32);
            PagedKvCache cache = PagedKvCache.allocate(spec, model.target().device(), owner);
            AttentionBackend attention = attentionFor.apply(cache, model.config());
            KvCacheManager blocks = new KvCacheManager(spec.numBlocks(), blockSize, false);
            // Interleave allocations so each sequence's blocks are scattered through the cache.
            SequenceBlocks seqA = blocks.newSequence("");
            SequenceBlocks seqB = blocks.newSequence("");
            for (int i = 1; i <= 5; i++) {
                blocks.ensureCapacity(seqA, i * blockSize);
                blocks.ensureCapacity(seqB, i * blockSize);
            }
            List<float[]> steps = new ArrayList<>();
            for (int step = 0; step < CHUNKS_A.length; step++) {
                List<SequenceChunk> batch = new ArrayList<>();
                batch.add(new SequenceChunk(java.util.Arrays.copyOfRange(a, CHUNKS_A[step][0], CHUNKS_A[step][1]), CHUNKS_A[step][0],
                        seqA.table(), true));
                if (step < CHUNKS_B.length) {
                    batch.add(new SequenceChunk(java.util.Arrays.copyOfRange(b, CHUNKS_B[step][0], CHUNKS_B[step][1]), CHUNKS_B[step][0],
                            seqB.table(), true));
                }
                try (NDManager stepManager = model.manager().newSubManager()) {
                    float[] values = model.forward(ForwardBatch.of(batch, blockSize), attention, stepManager).toFloatArray();
                    assertEquals(batch.size() * model.config().vocabSize(), values.length);
                    steps.add(values);
                }
            }
            return steps;
        }
    }

    private static double maxDiff(float[] values, int offset, double[] reference) {
        double worst = 0;
        for (int i = 0; i < reference.length; i++) {
            worst = Math.max(worst, Math.abs(values[offset + i] - reference[i]));
        }
        return worst;
    }

    private static int[] randomTokens(Random random, int n, int vocab) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = random.nextInt(vocab);
        }
        return t;
    }
}
