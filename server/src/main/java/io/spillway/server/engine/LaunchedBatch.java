package io.spillway.server.engine;

import io.spillway.models.sampling.Sample;
import java.util.List;

/**
 * A batch's forward pass queued on the device. Its owner calls {@link #samples()} once, then
 * {@link #close()} (closing without the samples abandons the batch).
 */
public interface LaunchedBatch extends AutoCloseable {

    /**
     * Queues the batch's draws, waits for the device and returns one sample per draw, in order.
     *
     * @throws RuntimeException as {@link BatchRunner#launch}: CUDA reports a kernel's failure at
     *                          the next call that waits for the device, which is this one
     */
    List<Sample> samples();

    /** Releases whatever the batch holds on the device. */
    @Override
    void close();
}
