package io.spillway.server.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.kv.KvCacheManager;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.sampling.SampleState;
import io.spillway.models.sampling.SamplingParams;
import io.spillway.models.testing.StoriesReference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * The scheduler against its transient budget, with the real scheduler and KV block manager and
 * the engine's bookkeeping played by the test: over many random mixes of prompts, outputs,
 * arrivals, limits and budgets, no scheduled batch's attention transient exceeds the budget
 * (unless it is one sequence that exceeds it alone even with one token), and every request
 * still finishes.
 */
class TransientBudgetTest {

    /** A small model's attention: 4 heads, 2 KV heads of 8, float32. */
    private static final StepTransient SHAPE = new StepTransient(4, 2, 8, 4);

    @Test
    void theEstimateIsTheGatherAttentionsShapes() {
        StepTransient qwen7b = new StepTransient(28, 4, 128, 2);
        // 60 decodes at 8k: gathered K and V, float32 scores over one query, float32 mask.
        long decode = 60L * 8192 * 4 * 128 * 2 * 2 + 60L * 28 * 8192 * 4 + 60L * 8192 * 4;
        assertEquals(decode, qwen7b.group(60, 1, 8192));
        assertTrue(decode <= EngineConfig.DEFAULT_TRANSIENT_BUDGET_BYTES, "the default's documented decode case fits");
        assertTrue(qwen7b.group(61, 1, 8192) > EngineConfig.DEFAULT_TRANSIENT_BUDGET_BYTES);
        assertTrue(qwen7b.group(1, 256, 32768) <= EngineConfig.DEFAULT_TRANSIENT_BUDGET_BYTES, "and its prefill case");
        // Past 2^31 without wrapping: a 2,048-token chunk at a 128k context.
        assertEquals(2048L * 131072 * 29 * 4 + 131072L * 4 * 128 * 4, qwen7b.group(1, 2048, 131072));
        assertEquals(0, qwen7b.group(0, 1, 100));
    }

    /**
     * stories260K (8 heads, 4 KV heads of 8, float32: 292 bytes per row and token of context, 36
     * more per query) under a 20 KB budget: prompt chunks of 37 to 40 tokens are cut to a few
     * tokens and decodes spread over steps, and the greedy ids are still the reference.
     */
    @Test
    void stories260KUnderATinyBudgetGivesTheReference() throws Exception {
        StoriesReference ref = StoriesReference.load();
        AtomicInteger largestPass = new AtomicInteger();
        UnaryOperator<BatchRunner> watch = real -> batch -> {
            largestPass.accumulateAndGet(batch.tokens(), Math::max);
            return real.launch(batch);
        };
        EngineConfig config = EngineConfig.defaults(false).withKvCacheBytes(64L << 20).withTransientBudgetBytes(20_000);
        try (Engine engine = Engine.start(ModelLoadOptions.of(ref.directory(), ComputeTarget.cpuFloat32()), config,
                new PrometheusRegistry(), watch)) {
            List<CompletableFuture<RequestStream.CompletedRequest>> runs = new ArrayList<>();
            List<int[]> expected = new ArrayList<>();
            for (int i = 0; i < ref.prompts().size(); i++) {
                int split = 33;
                int[] prompt = EngineTest.concat(ref.prompts().get(i), Arrays.copyOf(ref.expected().get(i), split));
                expected.add(Arrays.copyOfRange(ref.expected().get(i), split, ref.expected().get(i).length));
                SamplingParams p = SamplingParams.builder().temperature(0).maxTokens(expected.get(i).length).ignoreEos(true).build();
                runs.add(engine.submit(new EngineRequest("budget" + i, prompt, p, "")).collect());
            }
            for (int i = 0; i < runs.size(); i++) {
                RequestStream.CompletedRequest done = runs.get(i).get(120, TimeUnit.SECONDS);
                assertEquals(null, done.error());
                assertArrayEquals(expected.get(i), done.choices().get(0).tokenIds(), "prompt " + i + " under a 20 KB transient budget");
            }
            assertTrue(largestPass.get() < 34, "prompt chunks were cut: the largest pass fed " + largestPass.get() + " tokens");
        }
    }

    @Test
    void noBatchExceedsTheBudgetAndEveryRequestFinishes() {
        long batches = 0;
        long nearBudget = 0;
        long aloneOverBudget = 0;
        long cutChunks = 0;
        for (int seed = 0; seed < 300; seed++) {
            Outcome o = simulate(new Random(seed), seed);
            batches += o.batches;
            nearBudget += o.nearBudget;
            aloneOverBudget += o.aloneOverBudget;
            cutChunks += o.cutChunks;
        }
        // Not vacuous: the budget bound batches, cut chunks, and some sequences ran alone over it.
        assertTrue(nearBudget > batches / 20, nearBudget + " of " + batches + " batches within 3/4 of the budget");
        assertTrue(cutChunks > 100, cutChunks + " chunks cut to the budget");
        assertTrue(aloneOverBudget > 10, aloneOverBudget + " sequences over the budget alone");
    }

    private record Outcome(long batches, long nearBudget, long aloneOverBudget, long cutChunks) {
    }

    private static Outcome simulate(Random random, int seed) {
        int maxContext = 40 + random.nextInt(400);
        // From a few sequences' worth to many: per token of context a row costs 128 bytes gathered plus 20 per query.
        long budget = 2_000 + (long) (random.nextDouble() * random.nextDouble() * 2_000_000);
        int chunk = 1 + random.nextInt(128);
        EngineConfig config = EngineConfig.defaults(false).withMaxNumSeqs(1 + random.nextInt(48))
                .withMaxNumBatchedTokens(chunk + random.nextInt(256)).withMaxPrefillChunk(chunk).withTransientBudgetBytes(budget);
        int blockSize = config.blockSize();
        KvCacheManager kv = new KvCacheManager((maxContext + blockSize) / blockSize * (2 + random.nextInt(8)), blockSize, random.nextBoolean());
        Scheduler scheduler = new Scheduler(config, kv, SHAPE);

        int requests = 1 + random.nextInt(40);
        List<Sequence> pending = new ArrayList<>();
        List<Integer> arrivals = new ArrayList<>();
        List<Integer> outputs = new ArrayList<>();
        for (int i = 0; i < requests; i++) {
            int output = 1 + random.nextInt(Math.min(60, maxContext / 2));
            int prompt = 1 + random.nextInt(maxContext - output);
            // A small vocabulary, so that prompts share prefixes in the cache.
            pending.add(sequence("s" + seed + "-" + i, random.ints(prompt, 1, 4).toArray(), output, kv));
            arrivals.add(random.nextInt(200));
            outputs.add(output);
        }
        int finished = 0;
        long batches = 0;
        long near = 0;
        long alone = 0;
        long cut = 0;
        for (int step = 0; finished < requests; step++) {
            assertTrue(step < 100_000, "seed " + seed + ": only " + finished + " of " + requests + " finished");
            for (int i = 0; i < pending.size(); i++) {
                if (arrivals.get(i) == step) {
                    scheduler.addWaiting(pending.get(i));
                }
            }
            List<Scheduler.Scheduled> batch = scheduler.schedule();
            if (!scheduler.hasWork()) {
                continue;
            }
            assertFalse(batch.isEmpty(), "seed " + seed + " step " + step + ": work waits but nothing was scheduled");
            batches++;
            long bytes = transientBytes(batch);
            if (bytes > budget) {
                Sequence only = batch.get(0).sequence();
                assertEquals(1, batch.size(), "seed " + seed + " step " + step + ": " + bytes + " bytes over a budget of " + budget);
                assertTrue(SHAPE.group(1, 1, only.computed + 1) > budget,
                        "seed " + seed + ": alone over the budget though one token would fit");
                alone++;
            } else if (bytes * 4 > budget * 3) {
                near++;
            }
            for (Scheduler.Scheduled s : batch) {
                Sequence seq = s.sequence();
                int wanted = Math.min(seq.uncomputed(), config.maxPrefillChunk());
                if (seq.uncomputed() > 1 && s.tokens() < wanted && batch.stream().mapToInt(Scheduler.Scheduled::tokens).sum()
                        < config.maxNumBatchedTokens()) {
                    cut++;
                }
                // The engine's part: the tokens are computed, and a sequence all computed samples one.
                seq.computed += s.tokens();
                kv.commitFullBlocks(seq.blocks, seq.tokens(), seq.computed);
                if (seq.computed == seq.length()) {
                    seq.settle(1 + random.nextInt(3));
                    if (seq.generated() >= seq.sampling.params().maxTokens()) {
                        scheduler.remove(seq);
                        finished++;
                    }
                }
            }
        }
        assertEquals(0, kv.usedBlocks(), "seed " + seed + ": blocks left behind");
        return new Outcome(batches, near, alone, cut);
    }

    /** The batch's attention transient, from its groups as ForwardBatch forms them. */
    private static long transientBytes(List<Scheduler.Scheduled> batch) {
        long decodes = 0;
        long decodeContext = 0;
        long chunks = 0;
        long chunkQuery = 0;
        long chunkContext = 0;
        for (Scheduler.Scheduled s : batch) {
            long context = s.sequence().computed + s.tokens();
            if (s.tokens() == 1) {
                decodes++;
                decodeContext = Math.max(decodeContext, context);
            } else {
                chunks++;
                chunkQuery = Math.max(chunkQuery, s.tokens());
                chunkContext = Math.max(chunkContext, context);
            }
        }
        return SHAPE.group(decodes, 1, decodeContext) + SHAPE.group(chunks, chunkQuery, chunkContext);
    }

    static Sequence sequence(String id, int[] prompt, int maxTokens, KvCacheManager kv) {
        SamplingParams params = SamplingParams.builder().temperature(0).maxTokens(maxTokens).ignoreEos(true).build();
        EngineRequest request = new EngineRequest(id, prompt, params, "");
        RequestState state = new RequestState(request, new RequestStream(id, () -> { }, held -> { }), System.nanoTime(), 0);
        Sequence s = new Sequence(state, 0, prompt, prompt.length, prompt.length, new SampleState(params, 1, Set.of(), prompt), null,
                kv.newSequence(""));
        state.sequences.add(s);
        return s;
    }
}
