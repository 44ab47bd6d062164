package io.spillway.server.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.sampling.SamplingParams;
import io.spillway.models.testing.StoriesReference;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The engine against stories260K's reference ids: whatever the batch around a request, however its
 * prompt is chunked, whether it was preempted or served from the prefix cache, its greedy output
 * must be the reference exactly.
 */
class EngineTest {

    private static ModelLoadOptions options;
    private static io.spillway.models.checkpoint.ModelConfig modelConfig;
    private static List<int[]> prompts;
    private static List<int[]> expected;
    private static final AtomicInteger IDS = new AtomicInteger();
    /**
     * Tokens a request cancelled on its second may report: those the engine made before it saw the
     * cancel. Usually none (the subscriber runs on the engine thread), but a subscriber attached
     * after the engine started the request drains, and cancels, from the test thread while the
     * engine goes on; far below the 400 or more these requests ask for either way.
     */
    private static final int CANCEL_SLACK_TOKENS = 64;

    @BeforeAll
    static void load() {
        StoriesReference ref = StoriesReference.load();
        prompts = ref.prompts();
        expected = ref.expected();
        options = ModelLoadOptions.of(ref.directory(), ComputeTarget.cpuFloat32());
        modelConfig = io.spillway.models.checkpoint.ModelConfig.load(ref.directory().resolve("config.json"));
    }

    private static EngineConfig config() {
        return EngineConfig.defaults(false).withKvCacheBytes(64L << 20);
    }

    private static Engine start(EngineConfig config) {
        return Engine.start(options, config, new PrometheusRegistry());
    }

    private static CompletableFuture<RequestStream.CompletedRequest> greedy(Engine engine, int[] prompt, int maxTokens) {
        SamplingParams p = SamplingParams.builder().temperature(0).maxTokens(maxTokens).ignoreEos(true).build();
        return engine.submit(new EngineRequest("r" + IDS.incrementAndGet(), prompt, p, "")).collect();
    }

    private static int[] tokens(CompletableFuture<RequestStream.CompletedRequest> f) throws Exception {
        RequestStream.CompletedRequest done = f.get(120, TimeUnit.SECONDS);
        assertEquals(null, done.error());
        return done.choices().get(0).tokenIds();
    }

    private static void assertReference(List<CompletableFuture<RequestStream.CompletedRequest>> runs, String how) throws Exception {
        for (int i = 0; i < runs.size(); i++) {
            assertArrayEquals(expected.get(i), tokens(runs.get(i)), "prompt " + i + " " + how);
        }
    }

    private static List<CompletableFuture<RequestStream.CompletedRequest>> submitReferences(Engine engine) {
        List<CompletableFuture<RequestStream.CompletedRequest>> runs = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            runs.add(greedy(engine, prompts.get(i), expected.get(i).length));
        }
        return runs;
    }

    @Test
    void referencePromptsAlone() throws Exception {
        try (Engine engine = start(config())) {
            for (int i = 0; i < prompts.size(); i++) {
                assertArrayEquals(expected.get(i), tokens(greedy(engine, prompts.get(i), expected.get(i).length)), "prompt " + i + " alone");
            }
        }
    }

    @Test
    void referencePromptsAmongTwentyRequestsArrivingAtRandomSteps() throws Exception {
        try (Engine engine = start(config())) {
            Random random = new Random(3);
            List<CompletableFuture<RequestStream.CompletedRequest>> others = new ArrayList<>();
            Thread noise = new Thread(() -> {
                for (int i = 0; i < 20; i++) {
                    int[] prompt = random.ints(1 + random.nextInt(40), 1, 512).toArray();
                    SamplingParams p = SamplingParams.builder().temperature(random.nextBoolean() ? 0 : 0.9)
                            .maxTokens(5 + random.nextInt(60)).seed((long) i).build();
                    others.add(engine.submit(new EngineRequest("noise" + i, prompt, p, "")).collect());
                    try {
                        Thread.sleep(random.nextInt(15));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            });
            noise.start();
            Thread.sleep(10);
            List<CompletableFuture<RequestStream.CompletedRequest>> runs = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                runs.add(greedy(engine, prompts.get(i), expected.get(i).length));
                Thread.sleep(7);
            }
            noise.join();
            assertReference(runs, "among 20 others");
            for (CompletableFuture<RequestStream.CompletedRequest> f : others) {
                assertNotNull(f.get(60, TimeUnit.SECONDS).usage());
            }
        }
    }

    @Test
    void referencePromptsPrefilledInChunksOfThreeTokens() throws Exception {
        try (Engine engine = start(config().withMaxPrefillChunk(3))) {
            assertReference(submitReferences(engine), "with 3-token prefill chunks");
        }
    }

    /**
     * model.attention picks the engine's backend: the GPU's (block tables, SDPA) and its matmul twin
     * serve the reference too, among noise, chunked and prefix-cached, on the CPU.
     */
    @ParameterizedTest
    @EnumSource(value = AttentionChoice.class, names = {"BLOCKS_SDPA", "BLOCKS_MATMUL"})
    void theBlockTableBackendsServeTheReference(AttentionChoice choice) throws Exception {
        try (Engine engine = Engine.start(options.withAttention(choice), config().withMaxPrefillChunk(5), new PrometheusRegistry())) {
            assertReference(submitReferences(engine), "with " + choice.configName() + " attention, first run");
            assertReference(submitReferences(engine), "with " + choice.configName() + " attention, from the prefix cache");
        }
    }

    @Test
    void referencePromptsSurvivePreemption() throws Exception {
        // Nine blocks of 16 tokens: three sequences of up to 55 tokens need twelve, so some are preempted.
        long perBlock = KvCacheSpec.bytesPerBlock(modelConfig, 16, ai.djl.ndarray.types.DataType.FLOAT32);
        try (Engine engine = start(config().withKvCacheBytes(9 * perBlock))) {
            assertReference(submitReferences(engine), "under preemption");
            assertTrue(engine.stats().preemptions() > 0, "the cache was small enough to force preemption");
            awaitIdle(engine);
            assertEquals(0, engine.stats().kvBlocksUsed());
        }
    }

    @Test
    void referenceContinuationsFromThePrefixCache() throws Exception {
        try (Engine engine = start(config())) {
            assertReference(submitReferences(engine), "first run");
            // The finished requests' full blocks stay cached: a prompt extending a reference run
            // reuses them and must continue exactly as the reference does.
            for (int i = 0; i < prompts.size(); i++) {
                int split = 30;
                int[] prompt = concat(prompts.get(i), Arrays.copyOf(expected.get(i), split));
                int[] rest = Arrays.copyOfRange(expected.get(i), split, expected.get(i).length);
                long hitsBefore = engine.stats().prefixHitTokens();
                RequestStream.CompletedRequest done = greedy(engine, prompt, rest.length).get(60, TimeUnit.SECONDS);
                assertArrayEquals(rest, done.choices().get(0).tokenIds(), "prompt " + i + " continued from cached blocks");
                assertTrue(done.usage().cachedPromptTokens() >= 16, "cached prompt tokens reported: " + done.usage());
                assertTrue(engine.stats().prefixHitTokens() > hitsBefore);
            }
        }
    }

    @Test
    void seededSamplesAreIdenticalWhateverElseIsBatched() throws Exception {
        SamplingParams seeded = SamplingParams.builder().temperature(0.9).topP(0.95).topK(50).maxTokens(40).seed(1234L).ignoreEos(true).build();
        int[] prompt = prompts.get(1);
        int[] alone;
        try (Engine engine = start(config())) {
            alone = engine.submit(new EngineRequest("alone", prompt, seeded, "")).collect().get(60, TimeUnit.SECONDS).choices().get(0).tokenIds();
        }
        for (int composition = 0; composition < 3; composition++) {
            try (Engine engine = start(config().withMaxPrefillChunk(composition == 2 ? 2 : 256))) {
                Random random = new Random(composition);
                List<CompletableFuture<RequestStream.CompletedRequest>> others = new ArrayList<>();
                for (int i = 0; i < 4 + 6 * composition; i++) {
                    SamplingParams p = SamplingParams.builder().temperature(1.0).maxTokens(10 + random.nextInt(50)).build();
                    others.add(engine.submit(new EngineRequest("o" + i, random.ints(1 + random.nextInt(30), 1, 512).toArray(), p, "")).collect());
                }
                int[] batched = engine.submit(new EngineRequest("seeded", prompt, seeded, "")).collect().get(60, TimeUnit.SECONDS)
                        .choices().get(0).tokenIds();
                assertArrayEquals(alone, batched, "composition " + composition);
                for (CompletableFuture<RequestStream.CompletedRequest> f : others) {
                    f.get(60, TimeUnit.SECONDS);
                }
            }
        }
    }

    @Test
    void nSamplesShareThePromptAndDifferButAreReproducible() throws Exception {
        SamplingParams p = SamplingParams.builder().n(3).temperature(1.0).maxTokens(20).seed(7L).ignoreEos(true).build();
        int[] prompt = concat(prompts.get(2), expected.get(2));
        try (Engine engine = start(config())) {
            RequestStream.CompletedRequest a = engine.submit(new EngineRequest("n-a", prompt, p, "")).collect().get(60, TimeUnit.SECONDS);
            RequestStream.CompletedRequest b = engine.submit(new EngineRequest("n-b", prompt, p, "")).collect().get(60, TimeUnit.SECONDS);
            assertEquals(3, a.choices().size());
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(a.choices().get(i).tokenIds(), b.choices().get(i).tokenIds(), "sample " + i + " reproducible");
                assertEquals(20, a.choices().get(i).tokenIds().length);
            }
            assertTrue(!Arrays.equals(a.choices().get(0).tokenIds(), a.choices().get(1).tokenIds())
                    || !Arrays.equals(a.choices().get(1).tokenIds(), a.choices().get(2).tokenIds()), "samples differ");
            assertEquals(60, a.usage().completionTokens());
            awaitIdle(engine);
            assertEquals(0, engine.stats().kvBlocksUsed());
        }
    }

    /**
     * The logits stay on the model's device: every step brings back 8 bytes per drawn token, plus
     * 4 for its logprob and 12 per top logprob when asked, and nothing else, whatever the mix of
     * greedy, sampled, penalised, biased, forked and logprob requests batched together.
     */
    @Test
    void stepsCopyOnlyTokenIdsAndRequestedLogprobsToTheHost() throws Exception {
        try (Engine engine = start(config())) {
            Random random = new Random(5);
            List<CompletableFuture<RequestStream.CompletedRequest>> runs = new ArrayList<>();
            List<SamplingParams> params = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                SamplingParams.Builder b = SamplingParams.builder().maxTokens(5 + random.nextInt(20)).ignoreEos(true);
                switch (i % 4) {
                    case 0 -> b.temperature(0);
                    case 1 -> b.temperature(0.8).topP(0.9).repetitionPenalty(1.2).frequencyPenalty(0.5).presencePenalty(0.3).logprobs(3);
                    case 2 -> b.temperature(1.0).topK(20).logitBias(java.util.Map.of(5, 2f)).minTokens(3).n(2).logprobs(0);
                    default -> b.temperature(0.7).minP(0.1).seed(9L).logprobs(SamplingParams.MAX_LOGPROBS);
                }
                params.add(b.build());
                runs.add(engine.submit(new EngineRequest("bytes" + i, random.ints(1 + random.nextInt(40), 1, 512).toArray(),
                        params.get(i), "")).collect());
            }
            long expected = 0;
            for (int i = 0; i < runs.size(); i++) {
                RequestStream.CompletedRequest done = runs.get(i).get(60, TimeUnit.SECONDS);
                Integer logprobs = params.get(i).logprobs();
                long perToken = 8 + (logprobs == null ? 0 : 4 + 12L * logprobs);
                expected += perToken * done.usage().completionTokens();
            }
            assertTrue(expected > 0);
            assertEquals(expected, engine.hostCopyBytes(), "device-to-host bytes of every step");
        }
    }

    /**
     * On the GPU's attention path a step's inputs, its draws' parameters included, reach the device
     * in one transfer: as many transfers as steps, whatever the mix of greedy, sampled, penalised,
     * forked, logprob and chunked-prefill requests.
     */
    @Test
    void aBlockTableStepUploadsItsInputsAndDrawsInOneTransfer() throws Exception {
        try (Engine engine = Engine.start(options.withAttention(AttentionChoice.BLOCKS_SDPA), config().withMaxPrefillChunk(7),
                new PrometheusRegistry())) {
            Random random = new Random(8);
            List<CompletableFuture<RequestStream.CompletedRequest>> runs = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                SamplingParams.Builder b = SamplingParams.builder().maxTokens(5 + random.nextInt(20)).ignoreEos(true);
                switch (i % 4) {
                    case 0 -> b.temperature(0);
                    case 1 -> b.temperature(0.8).topP(0.9).repetitionPenalty(1.2).logprobs(3);
                    case 2 -> b.temperature(1.0).topK(20).logitBias(java.util.Map.of(5, 2f)).n(2);
                    default -> b.temperature(0.7).minP(0.1).seed(9L);
                }
                runs.add(engine.submit(new EngineRequest("once" + i, random.ints(1 + random.nextInt(40), 1, 512).toArray(), b.build(), ""))
                        .collect());
            }
            for (CompletableFuture<RequestStream.CompletedRequest> run : runs) {
                assertEquals(null, run.get(60, TimeUnit.SECONDS).error());
            }
            awaitIdle(engine);
            assertTrue(engine.stats().steps() > 20);
            assertEquals(engine.stats().steps(), engine.hostToDeviceTransfers(), "one transfer per step");
        }
    }

    /** How a request ended: its last delta's finish reason and its token count, against its limit. */
    private record Ending(String id, FinishReason reason, int completionTokens, int maxTokens) {
    }

    @Test
    void thousandRequestsWithThreeHundredCancelledLeaveNoBlocksAndNoArrays() throws Exception {
        try (Engine engine = start(config())) {
            int arraysBefore = engine.model().model().manager().getManagedArrays().size();
            Random random = new Random(11);
            List<CompletableFuture<Ending>> done = new ArrayList<>();
            List<Boolean> cancels = new ArrayList<>();
            AtomicInteger cancelled = new AtomicInteger();
            for (int i = 0; i < 1000; i++) {
                int[] prompt = random.ints(1 + random.nextInt(60), 1, 512).toArray();
                boolean cancel = i % 10 < 3;
                // Cancelled requests ask for far more than they get: ending early is then only
                // possible through the cancel, and a cancel that did nothing shows as "length".
                int maxTokens = cancel ? 400 + random.nextInt(100) : 8 + random.nextInt(60);
                SamplingParams p = SamplingParams.builder().temperature(random.nextBoolean() ? 0 : 1).maxTokens(maxTokens)
                        .ignoreEos(true).build();
                String id = "bulk" + i;
                RequestStream stream = engine.submit(new EngineRequest(id, prompt, p, ""));
                CompletableFuture<Ending> finished = new CompletableFuture<>();
                AtomicInteger seen = new AtomicInteger();
                stream.subscribe(Runnable::run, delta -> {
                    if (cancel && seen.incrementAndGet() == 2) {
                        cancelled.incrementAndGet();
                        stream.cancel();
                    }
                    if (delta.usage() != null) {
                        finished.complete(new Ending(id, delta.finishReason(), delta.usage().completionTokens(), maxTokens));
                    }
                });
                done.add(finished);
                cancels.add(cancel);
            }
            CompletableFuture.allOf(done.toArray(new CompletableFuture[0])).get(600, TimeUnit.SECONDS);
            awaitIdle(engine);
            EngineStats s = engine.stats();
            assertEquals(300, cancelled.get());
            int mostAfterCancel = 0;
            for (int i = 0; i < done.size(); i++) {
                Ending e = done.get(i).join();
                if (cancels.get(i)) {
                    assertEquals(FinishReason.ABORT, e.reason(), e.toString());
                    assertTrue(e.completionTokens() <= CANCEL_SLACK_TOKENS, "a cancelled request kept generating: " + e);
                    mostAfterCancel = Math.max(mostAfterCancel, e.completionTokens());
                } else {
                    assertEquals(FinishReason.LENGTH, e.reason(), e.toString());
                    assertEquals(e.maxTokens(), e.completionTokens(), e.toString());
                }
            }
            System.out.printf("cancellation: 300 requests cancelled on their second token ended with at most %d tokens%n", mostAfterCancel);
            assertEquals(0, s.kvBlocksUsed(), "KV blocks in use after all requests ended");
            assertEquals(s.kvBlocksTotal(), s.kvBlocksFree());
            assertEquals(arraysBefore, engine.model().model().manager().getManagedArrays().size(), "native arrays held by the model");
        }
    }

    @Test
    void admissionControlRefusesAtOnceWhenTheQueueIsFull() {
        try (Engine engine = start(config().withAdmission(2, 1000))) {
            SamplingParams p = SamplingParams.builder().temperature(0).maxTokens(200).ignoreEos(true).build();
            int accepted = 0;
            EngineOverloadedException refused = null;
            for (int i = 0; i < 50 && refused == null; i++) {
                try {
                    engine.submit(new EngineRequest("adm" + i, prompts.get(1), p, ""));
                    accepted++;
                } catch (EngineOverloadedException e) {
                    refused = e;
                }
            }
            assertNotNull(refused, "a full queue refuses");
            assertTrue(accepted >= 2);
            assertTrue(refused.retryAfterSeconds() >= 1);
        }
    }

    @Test
    void requestsThatCanNeverRunAreRejectedWithReasons() {
        try (Engine engine = start(config())) {
            SamplingParams p = SamplingParams.builder().maxTokens(4).build();
            PromptTooLongException tooLong = assertThrows(PromptTooLongException.class,
                    () -> engine.submit(new EngineRequest("long", new int[600], p, "")));
            assertEquals(600, tooLong.promptTokens());
            assertEquals(512, tooLong.maxModelLength());
            assertThrows(IllegalArgumentException.class, () -> engine.submit(new EngineRequest("bad", new int[] {1, 99999}, p, "")));
        }
    }

    @Test
    void requestTimeoutEndsARequestAndFreesItsBlocks() throws Exception {
        try (Engine engine = start(config().withRequestTimeout(Duration.ofMillis(50)).withMaxNumBatchedTokens(1))) {
            SamplingParams p = SamplingParams.builder().temperature(0).maxTokens(500).ignoreEos(true).build();
            RequestStream.CompletedRequest r = engine.submit(new EngineRequest("slow", prompts.get(2), p, "")).collect().get(30, TimeUnit.SECONDS);
            assertEquals(FinishReason.TIMEOUT, r.choices().get(0).finishReason());
            awaitIdle(engine);
            assertEquals(0, engine.stats().kvBlocksUsed());
        }
    }

    @Test
    void aRequestStillQueuedWhenItsWaitLimitPassesIsWithdrawnUntouched() throws Exception {
        // A fresh engine has no step times yet, so it predicts no wait and admits the request;
        // the only slot is then busy far longer than the request's limit. If the blocker's first
        // step has already finished when the request arrives, the engine knows better and refuses
        // it at admission instead; that race is lost rarely, so a fresh engine tries again.
        for (int attempt = 1; ; attempt++) {
            try (Engine engine = start(config().withMaxNumSeqs(1))) {
                CompletableFuture<RequestStream.CompletedRequest> blocker = greedy(engine, prompts.get(2), 400);
                SamplingParams p = SamplingParams.builder().temperature(0).maxTokens(8).build();
                long submitted = System.nanoTime();
                RequestStream queued;
                try {
                    queued = engine.submit(new EngineRequest("limited", prompts.get(1), p, "", 0.1, Optional.empty()));
                } catch (EngineOverloadedException refusedAtAdmission) {
                    if (attempt == 5) {
                        throw refusedAtAdmission;
                    }
                    continue;
                }
                RequestDelta first = queued.firstDelta().get(30, TimeUnit.SECONDS);
                double waited = (System.nanoTime() - submitted) / 1e9;
                RequestStream.CompletedRequest r = queued.collect().get(30, TimeUnit.SECONDS);
                assertEquals(FinishReason.WITHDRAWN, first.finishReason());
                assertEquals(0, r.choices().get(0).tokenIds().length, "nothing was generated");
                assertEquals(0, r.usage().completionTokens());
                assertTrue(waited < 1.0, "withdrawn near its 0.1 s limit, not when the slot freed: " + waited + " s");
                assertFalse(blocker.isDone(), "the running request was not disturbed");
                assertEquals(400, tokens(blocker).length);
                awaitIdle(engine);
                assertEquals(0, engine.stats().kvBlocksUsed());
                return;
            }
        }
    }

    /** Waits for the engine to have nothing running or waiting; fails after a generous minute. */
    static void awaitIdle(Engine engine) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        EngineStats s = engine.stats();
        while (s.running() != 0 || s.waiting() != 0) {
            assertTrue(System.nanoTime() < deadline, "the engine is still busy after a minute: " + s);
            Thread.sleep(10);
            s = engine.stats();
        }
    }

    static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
