package io.spillway.server.engine;

import io.spillway.models.checkpoint.ModelConfig;

/**
 * The device memory a forward pass's attention holds for one layer beyond weights and the KV
 * cache, as the gather attention ({@code attend_group} in the decoder script) materialises it.
 * A batch attends in two groups, decodes (one query each) and prompt chunks, each padded to its
 * longest query and context (the gather path may split a group further, to keep each tensor under
 * 16 MiB where it can: its parts attend one after another, none larger than the whole); per group of {@code b}
 * sequences, longest query {@code q} and longest context {@code l}:
 * <ul>
 *   <li>the gathered context, keys and values: {@code b·l·kvHeads·headDim·2·dtype bytes};</li>
 *   <li>the attention scores in float32, where softmax runs: {@code b·heads·q·l·4};</li>
 *   <li>the float32 mask (causal, window, padding): {@code b·q·l·4}.</li>
 * </ul>
 * Layers run one after another and free these before the next, so a pass needs the sum over
 * its groups once, not per layer. It is an estimate of the terms that grow with context and
 * batch (on top come the copies of queries and outputs, and the int64 rows the gathered context
 * is read through, held for the whole step: 8 / (headDim · dtype bytes) of the gathered context, a
 * thirty-second at headDim 64 in float32, for each part a split prompt chunk gathers), for the
 * scheduler to bound; the retry of an
 * out-of-memory pass catches what it misses. 64-bit throughout.
 *
 * @param heads      query heads
 * @param kvHeads    key/value heads
 * @param headDim    width of one head
 * @param dtypeBytes bytes of one cached element
 */
record StepTransient(int heads, int kvHeads, int headDim, int dtypeBytes) {

    static StepTransient of(ModelConfig config, int dtypeBytes) {
        return new StepTransient(config.numHeads(), config.numKvHeads(), config.headDim(), dtypeBytes);
    }

    /** Bytes of one group: {@code b} sequences, longest query {@code q}, longest context {@code l}. */
    long group(long b, long q, long l) {
        if (b == 0) {
            return 0;
        }
        long gathered = b * l * kvHeads * headDim * 2 * dtypeBytes;
        long scores = b * heads * q * l * Float.BYTES;
        long mask = b * q * l * Float.BYTES;
        return gathered + scores + mask;
    }
}
