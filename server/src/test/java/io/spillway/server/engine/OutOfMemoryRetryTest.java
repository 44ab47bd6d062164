package io.spillway.server.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.sampling.SamplingParams;
import io.spillway.models.testing.StoriesReference;
import io.spillway.server.testing.FaultyDevice;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A step that runs out of device memory is run again smaller, on stories260K for real with only
 * the failure injected: the sequence that cannot fit alone fails, every other one produces the
 * tokens it produces on a device that never ran out.
 */
class OutOfMemoryRetryTest {

    private static StoriesReference ref;
    private static ModelLoadOptions options;

    @BeforeAll
    static void load() {
        ref = StoriesReference.load();
        options = ModelLoadOptions.of(ref.directory(), ComputeTarget.cpuFloat32());
    }

    private static Engine start(FaultyDevice device) {
        return Engine.start(options, EngineConfig.defaults(false).withKvCacheBytes(64L << 20), new PrometheusRegistry(), device);
    }

    private static SamplingParams greedy(int maxTokens) {
        return SamplingParams.builder().temperature(0).maxTokens(maxTokens).ignoreEos(true).build();
    }

    /** Submits every request while the device holds a first pass, so they share the passes after it. */
    private static Map<String, CompletableFuture<RequestStream.CompletedRequest>> submitTogether(Engine engine, FaultyDevice device,
                                                                                                  Map<String, EngineRequest> requests)
            throws InterruptedException {
        Map<String, CompletableFuture<RequestStream.CompletedRequest>> runs = new LinkedHashMap<>();
        List<EngineRequest> all = List.copyOf(requests.values());
        device.holdNextPass(() -> runs.put(all.get(0).id(), engine.submit(all.get(0)).collect()));
        for (EngineRequest r : all.subList(1, all.size())) {
            runs.put(r.id(), engine.submit(r).collect());
        }
        device.release();
        return runs;
    }

    private static RequestStream.CompletedRequest done(CompletableFuture<RequestStream.CompletedRequest> f) throws Exception {
        return f.get(120, TimeUnit.SECONDS);
    }

    @Test
    void onlyTheSequenceThatCannotFitAloneFailsAndTheOthersGiveTheReference() throws Exception {
        FaultyDevice device = new FaultyDevice().failWhen(b -> b.requestIds().contains("victim"), FaultyDevice.CUDA_OOM, false);
        Map<String, EngineRequest> requests = new LinkedHashMap<>();
        for (int i = 0; i < ref.prompts().size(); i++) {
            requests.put("ref" + i, new EngineRequest("ref" + i, ref.prompts().get(i), greedy(ref.expected().get(i).length), ""));
        }
        requests.put("victim", new EngineRequest("victim", new Random(5).ints(40, 1, 512).toArray(), greedy(30), ""));
        try (Engine engine = start(device)) {
            Map<String, CompletableFuture<RequestStream.CompletedRequest>> runs = submitTogether(engine, device, requests);
            for (int i = 0; i < ref.prompts().size(); i++) {
                RequestStream.CompletedRequest r = done(runs.get("ref" + i));
                assertNull(r.error(), "ref" + i);
                assertArrayEquals(ref.expected().get(i), r.choices().get(0).tokenIds(), "ref" + i + " beside a sequence that cannot fit");
            }
            RequestStream.CompletedRequest victim = done(runs.get("victim"));
            assertEquals(FinishReason.ERROR, victim.choices().get(0).finishReason());
            assertTrue(victim.error().contains("ran out of device memory for this sequence alone"), victim.error());
            assertTrue(victim.error().contains("CUDA out of memory"), victim.error());
            assertEquals(0, victim.choices().get(0).tokenIds().length);

            List<List<String>> failed = device.failedPasses();
            assertTrue(failed.get(0).size() > 1, "the victim first failed among others: " + failed);
            assertEquals(List.of("victim"), failed.get(failed.size() - 1), "and last alone: " + failed);
            // Halved until alone (at most log2 of 4 sequences), then its 40-token chunk halved to one token.
            assertTrue(failed.size() >= 1 + 6, "the lone chunk was halved down to one token: " + failed);
            EngineTest.awaitIdle(engine);
            assertEquals(0, engine.stats().kvBlocksUsed(), "no blocks left behind");
        }
    }

    /**
     * Every pass of more than 8 tokens runs for real (its keys and values written, its draws made)
     * and then fails: split passes and halved chunks must rewrite the cache to the same values and
     * draw each token once, so greedy, seeded, penalised and forked samples all come out as on a
     * device that never failed.
     */
    @Test
    void passesThatRunOutOfMemoryAfterWritingTheCacheAreRetriedWithTheSameTokens() throws Exception {
        Map<String, EngineRequest> requests = new LinkedHashMap<>();
        for (int i = 0; i < ref.prompts().size(); i++) {
            requests.put("ref" + i, new EngineRequest("ref" + i, ref.prompts().get(i), greedy(ref.expected().get(i).length), ""));
        }
        Random random = new Random(11);
        for (int i = 0; i < 3; i++) {
            SamplingParams p = SamplingParams.builder().temperature(0.9).topP(0.9).topK(40).presencePenalty(0.5).frequencyPenalty(0.3)
                    .repetitionPenalty(1.2).seed(100L + i).maxTokens(30).ignoreEos(true).build();
            requests.put("sampled" + i, new EngineRequest("sampled" + i, random.ints(12 + 9 * i, 1, 512).toArray(), p, ""));
        }
        SamplingParams forked = SamplingParams.builder().n(2).temperature(1.0).seed(7L).maxTokens(20).ignoreEos(true).build();
        requests.put("forked", new EngineRequest("forked", random.ints(21, 1, 512).toArray(), forked, ""));

        Map<String, List<int[]>> clean = tokens(new FaultyDevice(), requests);
        FaultyDevice failing = new FaultyDevice().failWhen(b -> b.tokens() > 8, FaultyDevice.CUDA_OOM, true);
        Map<String, List<int[]>> retried = tokens(failing, requests);

        assertTrue(failing.failures() > 10, "passes failed and were retried: " + failing.failures());
        for (String id : requests.keySet()) {
            assertEquals(clean.get(id).size(), retried.get(id).size(), id);
            for (int c = 0; c < clean.get(id).size(); c++) {
                assertArrayEquals(clean.get(id).get(c), retried.get(id).get(c), id + " choice " + c);
            }
        }
        for (int i = 0; i < ref.prompts().size(); i++) {
            assertArrayEquals(ref.expected().get(i), retried.get("ref" + i).get(0), "ref" + i);
        }
    }

    private static Map<String, List<int[]>> tokens(FaultyDevice device, Map<String, EngineRequest> requests) throws Exception {
        Map<String, List<int[]>> out = new LinkedHashMap<>();
        try (Engine engine = start(device)) {
            Map<String, CompletableFuture<RequestStream.CompletedRequest>> runs = submitTogether(engine, device, requests);
            for (Map.Entry<String, CompletableFuture<RequestStream.CompletedRequest>> e : runs.entrySet()) {
                RequestStream.CompletedRequest r = done(e.getValue());
                assertNull(r.error(), e.getKey());
                out.put(e.getKey(), r.choices().stream().map(RequestStream.CompletedRequest.Choice::tokenIds).toList());
            }
            EngineTest.awaitIdle(engine);
            assertEquals(0, engine.stats().kvBlocksUsed(), "no blocks left behind");
        }
        return out;
    }
}
