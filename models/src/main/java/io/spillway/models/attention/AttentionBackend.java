package io.spillway.models.attention;

import ai.djl.ndarray.NDManager;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.runtime.HostStaging;

/**
 * Attention over a paged KV cache. The model calls {@link #begin} once per forward pass; the
 * backend turns the batch's block tables into what the attention kernel reads (gather indices and
 * masks for {@link GatherAttention}, whose math is the decoder script's {@code attend_group}).
 */
public interface AttentionBackend {

    /** Per-step state; everything it allocates belongs to {@code step}. */
    StepAttention begin(ForwardBatch batch, NDManager step, HostStaging staging);

    /** A short name for logs and benchmarks. */
    String name();
}
