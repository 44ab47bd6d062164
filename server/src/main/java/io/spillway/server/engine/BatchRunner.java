package io.spillway.server.engine;

/**
 * Runs one batch of a step on the model: queues its forward pass, and hands back what draws its
 * tokens and waits for them. The engine's is the {@link ModelRunner}; {@link Engine#start(io.spillway.models.ModelLoadOptions,
 * EngineConfig, io.prometheus.metrics.model.registry.PrometheusRegistry, java.util.function.UnaryOperator)}
 * lets a caller put a layer around it, which is how the tests make a CPU fail the way a GPU does
 * (an out-of-memory, a lost device) while everything else runs for real.
 */
public interface BatchRunner {

    /**
     * Queues the batch. On a GPU this returns once the work is queued, and the engine plans the
     * next step while the device runs this one; on the CPU the device is the calling thread, so
     * the work is done when this returns.
     *
     * @throws RuntimeException as libtorch's failures reach Java (DJL's {@code EngineException});
     *                          the engine reads them with {@link StepFailure}. Nothing of the
     *                          batch is left to close then.
     */
    LaunchedBatch launch(StepBatch batch);
}
