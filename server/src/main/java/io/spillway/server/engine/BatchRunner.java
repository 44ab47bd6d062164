package io.spillway.server.engine;

import io.spillway.models.sampling.Sample;
import java.util.List;

/**
 * Runs one batch of a step on the model: its forward pass, then its draws. The engine's is the
 * {@link ModelRunner}; {@link Engine#start(io.spillway.models.ModelLoadOptions, EngineConfig,
 * io.prometheus.metrics.model.registry.PrometheusRegistry, java.util.function.UnaryOperator)}
 * lets a caller put a layer around it, which is how the tests make a CPU fail the way a GPU
 * does (an out-of-memory, a lost device) while everything else runs for real.
 */
public interface BatchRunner {

    /**
     * @return one sample per draw of the batch, in order
     * @throws RuntimeException as libtorch's failures reach Java (DJL's {@code EngineException});
     *                          the engine reads them with {@link StepFailure}
     */
    List<Sample> execute(StepBatch batch);
}
