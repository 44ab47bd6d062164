package io.spillway.server.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.sampling.SamplingParams;
import io.spillway.models.testing.StoriesReference;
import io.spillway.server.testing.FaultyDevice;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A sticky device error ends the engine's serving: what was in flight fails, nothing new is taken, and health says why. */
class DeviceLostTest {

    @Test
    void aStickyDeviceErrorFailsEveryRequestInFlightAndRefusesNewOnes() throws Exception {
        StoriesReference ref = StoriesReference.load();
        FaultyDevice device = new FaultyDevice();
        SamplingParams longRun = SamplingParams.builder().temperature(0).maxTokens(400).ignoreEos(true).build();
        try (Engine engine = Engine.start(ModelLoadOptions.of(ref.directory(), ComputeTarget.cpuFloat32()),
                EngineConfig.defaults(false).withKvCacheBytes(64L << 20).withMaxNumSeqs(1), new PrometheusRegistry(), device)) {
            assertInstanceOf(EngineHealth.Serving.class, engine.health());
            RequestStream bystander = engine.submit(new EngineRequest("bystander", ref.prompts().get(1), longRun, ""));
            bystander.firstDelta().get(60, TimeUnit.SECONDS);
            // One sequence at a time: this one waits in the queue behind the bystander.
            RequestStream waiting = engine.submit(new EngineRequest("waiting", ref.prompts().get(2), longRun, ""));
            device.failWhen(b -> b.requestIds().contains("bystander"), FaultyDevice.ILLEGAL_ACCESS, false);

            for (RequestStream s : new RequestStream[] {bystander, waiting}) {
                RequestStream.CompletedRequest done = s.collect().get(60, TimeUnit.SECONDS);
                assertEquals(FinishReason.ERROR, done.choices().get(0).finishReason(), s.requestId());
                assertTrue(done.error().contains("device failed and cannot recover"), done.error());
                assertTrue(done.error().contains("an illegal memory access was encountered"), done.error());
            }
            EngineHealth.DeviceLost lost = assertInstanceOf(EngineHealth.DeviceLost.class, engine.health());
            assertEquals("CUDA error: an illegal memory access was encountered", lost.reason(), "libtorch's first line");

            device.healthy();
            EngineUnavailableException refused = assertThrows(EngineUnavailableException.class,
                    () -> engine.submit(new EngineRequest("after", ref.prompts().get(0), longRun, "")));
            assertTrue(refused.getMessage().contains("restarted"), refused.getMessage());
            EngineTest.awaitIdle(engine);
            assertEquals(0, engine.stats().kvBlocksUsed(), "the failed requests' blocks are free");
            assertEquals(1, device.failures(), "nothing ran on the device after it was lost");
        }
    }
}
