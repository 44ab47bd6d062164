package io.spillway.server.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.sampling.Sample;
import io.spillway.models.sampling.SamplingParams;
import io.spillway.models.testing.StoriesReference;
import io.spillway.server.testing.FaultyDevice;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The engine schedules step n + 1 while step n runs, as if each of step n's draws let its sequence
 * go on. Watched from the device's side on the real stories260K model: what was planned when the
 * engine waited for each step, what each step then ran, and what came out.
 */
class PlanAheadTest {

    private static StoriesReference ref;
    private static ModelLoadOptions options;

    @BeforeAll
    static void load() {
        ref = StoriesReference.load();
        options = ModelLoadOptions.of(ref.directory(), ComputeTarget.cpuFloat32());
    }

    /** One pass as the device saw it: the requests it ran, and the plan the engine held when it waited for the pass. */
    private record Pass(List<String> ran, List<String> plannedAtWait) {
    }

    /** Records every pass around the real runner; {@code onLaunch} runs on the engine thread as a pass is queued. */
    private static final class Recorder implements UnaryOperator<BatchRunner> {
        final AtomicReference<Engine> engine = new AtomicReference<>();
        final List<Pass> passes = new CopyOnWriteArrayList<>();
        volatile java.util.function.Consumer<StepBatch> onLaunch = b -> { };

        @Override
        public BatchRunner apply(BatchRunner real) {
            return batch -> {
                LaunchedBatch launched = real.launch(batch);
                onLaunch.accept(batch);
                return new LaunchedBatch() {
                    @Override
                    public List<Sample> samples() {
                        Engine e = engine.get();
                        passes.add(new Pass(batch.requestIds(), e == null ? List.of() : e.plannedRequestIds()));
                        return launched.samples();
                    }

                    @Override
                    public void close() {
                        launched.close();
                    }
                };
            };
        }

        Engine start(EngineConfig config) {
            Engine e = Engine.start(options, config, new PrometheusRegistry(), this);
            engine.set(e);
            return e;
        }
    }

    private static EngineConfig config() {
        return EngineConfig.defaults(false).withKvCacheBytes(64L << 20);
    }

    private static SamplingParams greedy(int maxTokens) {
        return SamplingParams.builder().temperature(0).maxTokens(maxTokens).ignoreEos(true).build();
    }

    /**
     * Every pass after the first was planned while the one before it ran: the requests it runs are
     * the plan the engine held when it waited for the pass before, less those that pass ended.
     * Each request is fed exactly once per token it got (its prompt in one pass, then one pass per
     * later token), so a request that ended is never run again on a stand-in, whether it ended on a
     * stop token nobody could foresee or at max_tokens; and every output is the reference.
     */
    @Test
    void eachPassIsPlannedWhileThePassBeforeRunsAndEndedRequestsDropOut() throws Exception {
        Recorder device = new Recorder();
        List<int[]> prompts = ref.prompts();
        List<int[]> expected = ref.expected();
        try (Engine engine = device.start(config())) {
            Map<String, int[]> wanted = new HashMap<>();
            Map<String, CompletableFuture<RequestStream.CompletedRequest>> runs = new HashMap<>();
            for (int i = 0; i < prompts.size(); i++) {
                // Request i stops at the first occurrence of its reference's token 20 + 7i: no schedule can know when.
                int stop = expected.get(i)[20 + 7 * i];
                int end = 0;
                while (expected.get(i)[end] != stop) {
                    end++;
                }
                SamplingParams stopping = greedy(400).toBuilder().stopTokenIds(Set.of(stop)).build();
                wanted.put("stop" + i, Arrays.copyOf(expected.get(i), end + 1));
                runs.put("stop" + i, engine.submit(new EngineRequest("stop" + i, prompts.get(i), stopping, "")).collect());
                int length = 10 + 13 * i;
                wanted.put("length" + i, Arrays.copyOf(expected.get(i), length));
                runs.put("length" + i, engine.submit(new EngineRequest("length" + i, prompts.get(i), greedy(length), "")).collect());
            }
            for (Map.Entry<String, CompletableFuture<RequestStream.CompletedRequest>> run : runs.entrySet()) {
                RequestStream.CompletedRequest done = run.getValue().get(120, TimeUnit.SECONDS);
                assertNull(done.error());
                assertArrayEquals(wanted.get(run.getKey()), done.choices().get(0).tokenIds(), run.getKey());
            }
            EngineTest.awaitIdle(engine);
            long promptTokens = 2L * prompts.stream().mapToInt(p -> p.length).sum();
            assertEquals(promptTokens - engine.stats().prefixHitTokens(), engine.stats().promptTokens(), "prompt tokens computed");

            List<Pass> passes = device.passes;
            for (String id : wanted.keySet()) {
                long fed = passes.stream().filter(p -> p.ran().contains(id)).count();
                assertEquals(wanted.get(id).length, fed, id + ": one pass per token it got, none after it ended");
            }
            for (int i = 0; i < prompts.size(); i++) {
                // Its last token by max_tokens is known before it is drawn: no slot is planned for a token after it.
                String id = "length" + i;
                Pass last = passes.stream().filter(p -> p.ran().contains(id)).reduce((a, b) -> b).orElseThrow();
                assertFalse(last.plannedAtWait().contains(id), id + " was planned past its max_tokens");
            }
            for (int k = 0; k + 1 < passes.size(); k++) {
                List<String> next = passes.get(k + 1).ran();
                List<String> plan = passes.get(k).plannedAtWait();
                assertFalse(plan.isEmpty(), "pass " + (k + 1) + " of " + passes.size() + " was not planned while pass " + k + " ran");
                assertTrue(plan.containsAll(next), "pass " + (k + 1) + " runs " + next + ", planned while pass " + k + " ran as " + plan);
                for (String dropped : plan.stream().filter(id -> !next.contains(id)).toList()) {
                    assertTrue(passes.get(k).ran().contains(dropped) && !passes.subList(k + 1, passes.size()).stream()
                            .anyMatch(p -> p.ran().contains(dropped)), dropped + " left the plan of pass " + (k + 1) + " but was not ending");
                }
            }
        }
    }

    /**
     * Cancelled while its pass runs: the request leaves the plan being made, is never fed again, and
     * its usage counts the tokens it received, not the stand-in of the one that was being drawn.
     */
    @Test
    void aRequestCancelledWhileItsPassRunsIsNotRunAgainAndCountsOnlyItsTokens() throws Exception {
        Recorder device = new Recorder();
        try (Engine engine = device.start(config())) {
            List<Integer> cancelledAt = new CopyOnWriteArrayList<>();
            device.onLaunch = batch -> {
                if (batch.requestIds().contains("victim") && device.passes.stream().filter(p -> p.ran().contains("victim")).count() == 5
                        && cancelledAt.isEmpty()) {
                    cancelledAt.add(device.passes.size());
                    engine.abort("victim");
                }
            };
            CompletableFuture<RequestStream.CompletedRequest> other = engine.submit(
                    new EngineRequest("other", ref.prompts().get(0), greedy(ref.expected().get(0).length), "")).collect();
            RequestStream stream = engine.submit(new EngineRequest("victim", ref.prompts().get(1), greedy(200), ""));
            RequestStream.CompletedRequest done = stream.collect().get(60, TimeUnit.SECONDS);
            assertEquals(FinishReason.ABORT, done.choices().get(0).finishReason());
            int received = done.choices().get(0).tokenIds().length;
            assertEquals(5, received, "cancelled while its sixth pass ran, whose token is not taken");
            assertEquals(received, done.usage().completionTokens(), "usage counts what the request received");
            assertArrayEquals(Arrays.copyOf(ref.expected().get(1), received), done.choices().get(0).tokenIds());
            assertArrayEquals(ref.expected().get(0), other.get(60, TimeUnit.SECONDS).choices().get(0).tokenIds());
            int cancelPass = cancelledAt.get(0);
            assertFalse(device.passes.get(cancelPass).plannedAtWait().contains("victim"), "cancelled before the next pass was planned");
            assertEquals(6, device.passes.stream().filter(p -> p.ran().contains("victim")).count());
        }
    }

    /**
     * What arrives while a pass runs is taken before the next step is planned: a request submitted
     * then is in that plan, and one held then is not (and, released, still gives the reference).
     */
    @Test
    void requestsSubmittedOrHeldWhileAPassRunsAreTakenIntoThePlanMadeDuringIt() throws Exception {
        Recorder device = new Recorder();
        try (Engine engine = device.start(config())) {
            List<Integer> submittedAt = new CopyOnWriteArrayList<>();
            List<Integer> heldAt = new CopyOnWriteArrayList<>();
            List<CompletableFuture<RequestStream.CompletedRequest>> late = new CopyOnWriteArrayList<>();
            device.onLaunch = batch -> {
                long passes = device.passes.stream().filter(p -> p.ran().contains("first")).count();
                if (passes == 3 && submittedAt.isEmpty()) {
                    submittedAt.add(device.passes.size());
                    late.add(engine.submit(new EngineRequest("late", ref.prompts().get(2), greedy(ref.expected().get(2).length), ""))
                            .collect());
                }
                if (passes == 6 && heldAt.isEmpty()) {
                    heldAt.add(device.passes.size());
                    engine.hold("first", true);
                }
            };
            CompletableFuture<RequestStream.CompletedRequest> first = engine.submit(
                    new EngineRequest("first", ref.prompts().get(1), greedy(ref.expected().get(1).length), "")).collect();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (heldAt.isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertFalse(heldAt.isEmpty(), "the sixth pass of the first request came");
            Thread.sleep(200);
            engine.hold("first", false);
            assertArrayEquals(ref.expected().get(1), first.get(60, TimeUnit.SECONDS).choices().get(0).tokenIds());
            assertArrayEquals(ref.expected().get(2), late.get(0).get(60, TimeUnit.SECONDS).choices().get(0).tokenIds());
            assertTrue(device.passes.get(submittedAt.get(0)).plannedAtWait().contains("late"),
                    "submitted while pass " + submittedAt.get(0) + " ran: " + device.passes.get(submittedAt.get(0)));
            assertFalse(device.passes.get(heldAt.get(0)).plannedAtWait().contains("first"),
                    "held while pass " + heldAt.get(0) + " ran: " + device.passes.get(heldAt.get(0)));
        }
    }

    /**
     * A sequence drawing its last token (by max_tokens) gives its blocks back before the next step
     * is planned, as it did when steps were planned after the tokens came back: in a cache of four
     * blocks, A (20-token prompt, 3 tokens) and B (31-token prompt, joining A's second pass) fill
     * it, and B's next block, needed in the plan made during A's last pass, comes from A's instead
     * of preempting B. Both still give what they give alone.
     */
    @Test
    void aSequenceDrawingItsLastTokenLeavesItsBlocksToThePlan() throws Exception {
        java.util.Random random = new java.util.Random(23);
        int[] promptA = random.ints(20, 3, 512).toArray();
        int[] promptB = random.ints(31, 3, 512).toArray();
        int[] aloneA;
        int[] aloneB;
        try (Engine engine = Engine.start(options, config(), new PrometheusRegistry())) {
            aloneA = engine.submit(new EngineRequest("a", promptA, greedy(3), "")).collect().get(60, TimeUnit.SECONDS).choices().get(0).tokenIds();
            aloneB = engine.submit(new EngineRequest("b", promptB, greedy(10), "")).collect().get(60, TimeUnit.SECONDS).choices().get(0).tokenIds();
        }
        Recorder device = new Recorder();
        long perBlock = KvCacheSpec.bytesPerBlock(io.spillway.models.checkpoint.ModelConfig.load(ref.directory().resolve("config.json")), 16,
                ai.djl.ndarray.types.DataType.FLOAT32);
        try (Engine engine = device.start(config().withKvCacheBytes(5 * perBlock))) {
            assertEquals(4, engine.stats().kvBlocksTotal(), "the scenario's cache");
            List<CompletableFuture<RequestStream.CompletedRequest>> b = new CopyOnWriteArrayList<>();
            device.onLaunch = batch -> {
                if (batch.requestIds().equals(List.of("a")) && b.isEmpty()) {
                    b.add(engine.submit(new EngineRequest("b", promptB, greedy(10), "")).collect());
                }
            };
            CompletableFuture<RequestStream.CompletedRequest> a = engine.submit(new EngineRequest("a", promptA, greedy(3), "")).collect();
            assertArrayEquals(aloneA, a.get(60, TimeUnit.SECONDS).choices().get(0).tokenIds());
            assertArrayEquals(aloneB, b.get(0).get(60, TimeUnit.SECONDS).choices().get(0).tokenIds());
            assertEquals(0, engine.stats().preemptions(), "passes: " + device.passes);
        }
    }

    /**
     * Blocks given back early are registered first: a request whose last pass fills its second
     * block (a 20-token prompt and 13 tokens: position 31 is fed by the pass that draws the last)
     * leaves both in the prefix cache, and a follow-up extending it finds 32 tokens cached.
     */
    @Test
    void theBlockALastPassFillsStaysInThePrefixCache() throws Exception {
        int[] prompt = new java.util.Random(29).ints(20, 3, 512).toArray();
        try (Engine engine = Engine.start(options, config(), new PrometheusRegistry())) {
            int[] out = engine.submit(new EngineRequest("first", prompt, greedy(13), "")).collect().get(60, TimeUnit.SECONDS)
                    .choices().get(0).tokenIds();
            RequestStream.CompletedRequest next = engine.submit(new EngineRequest("next", EngineTest.concat(prompt, out), greedy(2), ""))
                    .collect().get(60, TimeUnit.SECONDS);
            assertEquals(32, next.usage().cachedPromptTokens());
        }
    }

    /**
     * Many requests through a cache of a few blocks, so that planning ahead preempts sequences on
     * their last pass and while they draw: every output is the reference, and the queue's token
     * gauge and the blocks balance at the end.
     */
    @Test
    void underHeavyPreemptionTheCountsBalance() throws Exception {
        Recorder device = new Recorder();
        long perBlock = KvCacheSpec.bytesPerBlock(io.spillway.models.checkpoint.ModelConfig.load(ref.directory().resolve("config.json")), 16,
                ai.djl.ndarray.types.DataType.FLOAT32);
        java.util.Random random = new java.util.Random(17);
        try (Engine engine = device.start(config().withKvCacheBytes(7 * perBlock))) {
            List<CompletableFuture<RequestStream.CompletedRequest>> runs = new ArrayList<>();
            List<int[]> wanted = new ArrayList<>();
            for (int i = 0; i < 24; i++) {
                int which = i % ref.prompts().size();
                int length = 8 + random.nextInt(40);
                wanted.add(Arrays.copyOf(ref.expected().get(which), Math.min(length, ref.expected().get(which).length)));
                runs.add(engine.submit(new EngineRequest("h" + i, ref.prompts().get(which), greedy(wanted.get(i).length), "")).collect());
            }
            for (int i = 0; i < runs.size(); i++) {
                assertArrayEquals(wanted.get(i), runs.get(i).get(120, TimeUnit.SECONDS).choices().get(0).tokenIds(), "request " + i);
            }
            EngineTest.awaitIdle(engine);
            EngineStats stats = engine.stats();
            assertTrue(stats.preemptions() > 0, "the cache forced preemption");
            assertEquals(0, stats.waitingPromptTokens());
            assertEquals(0, stats.kvBlocksUsed());
        }
    }

    /**
     * A cache small enough that planning ahead preempts sequences whose pass is still running:
     * their drawn tokens land after they left, they recompute, the outputs are the reference, and
     * the queue's token count comes back to zero.
     */
    @Test
    void sequencesPreemptedWhileTheirPassRunsRecomputeExactly() throws Exception {
        Recorder device = new Recorder();
        long perBlock = KvCacheSpec.bytesPerBlock(io.spillway.models.checkpoint.ModelConfig.load(ref.directory().resolve("config.json")), 16,
                ai.djl.ndarray.types.DataType.FLOAT32);
        try (Engine engine = device.start(config().withKvCacheBytes(9 * perBlock))) {
            List<CompletableFuture<RequestStream.CompletedRequest>> runs = new ArrayList<>();
            for (int i = 0; i < ref.prompts().size(); i++) {
                runs.add(engine.submit(new EngineRequest("p" + i, ref.prompts().get(i), greedy(ref.expected().get(i).length), "")).collect());
            }
            for (int i = 0; i < runs.size(); i++) {
                assertArrayEquals(ref.expected().get(i), runs.get(i).get(120, TimeUnit.SECONDS).choices().get(0).tokenIds(), "prompt " + i);
            }
            assertTrue(engine.stats().preemptions() > 0, "the cache forced preemption");
            EngineTest.awaitIdle(engine);
            assertEquals(0, engine.stats().waitingPromptTokens());
            assertEquals(0, engine.stats().kvBlocksUsed());
        }
    }

    /**
     * A pass that fails as the engine waits for it (where CUDA reports a kernel's failure) cannot be
     * retried, as its sequences already moved on: its requests fail with the device's words, the
     * next pass never runs them, and the engine serves the next request exactly.
     */
    @Test
    void aPassFailingWhileTheEngineWaitsFailsItsRequestsAndTheEngineGoesOn() throws Exception {
        FaultyDevice device = new FaultyDevice().failWhileWaiting(b -> b.requestIds().contains("doomed"), FaultyDevice.CUDA_OOM);
        try (Engine engine = Engine.start(options, config(), new PrometheusRegistry(), device)) {
            // A prompt of several tokens: an out-of-memory that was retried would split its chunk.
            int[] prompt = EngineTest.concat(ref.prompts().get(0), Arrays.copyOf(ref.expected().get(0), 9));
            RequestStream.CompletedRequest doomed = engine.submit(new EngineRequest("doomed", prompt, greedy(30), ""))
                    .collect().get(60, TimeUnit.SECONDS);
            assertEquals(FinishReason.ERROR, doomed.choices().get(0).finishReason());
            assertEquals("the forward pass failed: " + FaultyDevice.CUDA_OOM, doomed.error());
            assertEquals(1, device.failures(), "failed once, not retried");
            int[] after = engine.submit(new EngineRequest("after", ref.prompts().get(1), greedy(30), "")).collect().get(60, TimeUnit.SECONDS)
                    .choices().get(0).tokenIds();
            assertArrayEquals(Arrays.copyOf(ref.expected().get(1), 30), after);
            EngineTest.awaitIdle(engine);
            assertEquals(0, engine.stats().kvBlocksUsed());
            assertEquals(new EngineHealth.Serving(), engine.health());
        }
    }

    /** A lost device reported while the engine waits: every request fails and the engine says why. */
    @Test
    void aDeviceLostWhileTheEngineWaitsFailsEverything() throws Exception {
        FaultyDevice device = new FaultyDevice().failWhileWaiting(b -> b.requestIds().contains("doomed"), FaultyDevice.ILLEGAL_ACCESS);
        try (Engine engine = Engine.start(options, config(), new PrometheusRegistry(), device)) {
            RequestStream.CompletedRequest doomed = engine.submit(new EngineRequest("doomed", ref.prompts().get(0), greedy(30), ""))
                    .collect().get(60, TimeUnit.SECONDS);
            assertEquals(FinishReason.ERROR, doomed.choices().get(0).finishReason());
            assertTrue(engine.health() instanceof EngineHealth.DeviceLost, String.valueOf(engine.health()));
        }
    }
}
