package io.spillway.server.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.sampling.SamplingParams;
import io.spillway.models.testing.TinyCheckpoint;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint whose activations fit float32 but overflow float16 (norm weights near 3,000: the MLP's
 * gate times up passes 65,504): in float16 its request ends with an error naming the cause instead
 * of a token drawn from NaN, and the engine goes on serving; in float32 the same weights answer, and
 * so they do in bfloat16, which has float32's range (the reason it is the GPU default where it runs).
 * Activations past float32's range too overflow bfloat16 alike, and are reported the same way.
 */
class NonFiniteLogitsTest {

    @TempDir
    Path temp;

    @Test
    void float16OverflowEndsTheRequestWithAnErrorAndFloat32Answers() throws Exception {
        Path dir = TinyCheckpoint.llama().normCenter(3000).writeTo(temp.resolve("overflowing"));
        SamplingParams p = SamplingParams.builder().temperature(0.7).maxTokens(8).ignoreEos(true).build();
        int[] prompt = {1, 17, 40, 5, 63};

        ComputeTarget half = new ComputeTarget(Device.cpu(), DataType.FLOAT16);
        try (Engine engine = Engine.start(ModelLoadOptions.of(dir, half), EngineConfig.defaults(false).withKvCacheBytes(8L << 20),
                new PrometheusRegistry())) {
            // n = 3: the siblings are forked from the same non-finite row; none may outlive the request.
            SamplingParams three = SamplingParams.builder().temperature(0.7).maxTokens(8).ignoreEos(true).n(3).build();
            RequestStream.CompletedRequest forked = engine.submit(new EngineRequest("half-n3", prompt, three, "")).collect()
                    .get(60, TimeUnit.SECONDS);
            assertNotNull(forked.error());
            assertTrue(forked.error().contains("non-finite logits"), forked.error());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while ((engine.stats().running() > 0 || engine.stats().kvBlocksUsed() > 0) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertEquals(0, engine.stats().running(), "a forked sibling kept running after its request ended");
            assertEquals(0, engine.stats().kvBlocksUsed(), "a forked sibling kept KV blocks after its request ended");
            for (int i = 0; i < 2; i++) {
                RequestStream.CompletedRequest done = engine.submit(new EngineRequest("half" + i, prompt, p, "")).collect()
                        .get(60, TimeUnit.SECONDS);
                assertNotNull(done.error(), "float16 request " + i + " was sampled from non-finite logits");
                assertTrue(done.error().contains("non-finite logits"), done.error());
                assertEquals(FinishReason.ERROR, done.choices().get(0).finishReason());
                assertEquals(0, done.choices().get(0).tokenIds().length, "no token came from the overflowing row");
            }
        }
        for (ComputeTarget answering : new ComputeTarget[] {ComputeTarget.cpuFloat32(), new ComputeTarget(Device.cpu(), DataType.BFLOAT16)}) {
            try (Engine engine = Engine.start(ModelLoadOptions.of(dir, answering), EngineConfig.defaults(false).withKvCacheBytes(8L << 20),
                    new PrometheusRegistry())) {
                RequestStream.CompletedRequest done = engine.submit(new EngineRequest("full", prompt, p, "")).collect()
                        .get(60, TimeUnit.SECONDS);
                assertNull(done.error(), answering + ": " + done.error());
                assertEquals(8, done.choices().get(0).tokenIds().length, answering.toString());
            }
        }
    }

    /**
     * Norm weights near 1e19 take the activations past float32's range, and so past bfloat16's:
     * its request is reported, not sampled, as in float16 (and float32).
     */
    @Test
    void bfloat16ReportsARowPastItsRangeInsteadOfSamplingIt() throws Exception {
        Path dir = TinyCheckpoint.llama().normCenter(1e19).writeTo(temp.resolve("past-float32"));
        SamplingParams p = SamplingParams.builder().temperature(0.7).maxTokens(8).ignoreEos(true).build();
        int[] prompt = {1, 17, 40, 5, 63};
        for (DataType dtype : new DataType[] {DataType.BFLOAT16, DataType.FLOAT32}) {
            try (Engine engine = Engine.start(ModelLoadOptions.of(dir, new ComputeTarget(Device.cpu(), dtype)),
                    EngineConfig.defaults(false).withKvCacheBytes(8L << 20), new PrometheusRegistry())) {
                RequestStream.CompletedRequest done = engine.submit(new EngineRequest("past", prompt, p, "")).collect()
                        .get(60, TimeUnit.SECONDS);
                assertNotNull(done.error(), dtype + ": a request was sampled from non-finite logits");
                assertTrue(done.error().contains("non-finite logits"), done.error());
                assertEquals(FinishReason.ERROR, done.choices().get(0).finishReason());
                assertEquals(0, done.choices().get(0).tokenIds().length, dtype + ": a token came from the overflowing row");
            }
        }
    }
}
