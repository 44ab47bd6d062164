package io.spillway.server.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.spillway.models.arch.DecoderModel;
import io.spillway.models.attention.AttentionBackend;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.kv.PagedKvCache;
import io.spillway.models.runtime.HostCopies;
import io.spillway.models.sampling.DeviceSampler;
import io.spillway.models.sampling.Draw;
import io.spillway.models.sampling.SampleState;
import io.spillway.models.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Sizes a GPU's KV cache by measurement, as vLLM's profile run does: with the weights loaded, the
 * largest steps the scheduler can build run once each, through the real forward pass and the real
 * sampler, over a KV cache of two blocks (every block table points at the same block: a step's
 * transient memory depends on its shapes, not on which blocks it reads). libtorch's caching
 * allocator keeps the blocks those steps needed, so the device memory in use afterwards is the
 * weights plus the peak of the worst step, plus whatever CUDA and other libraries hold; the KV
 * cache gets the configured fraction of the device less all of that, less what the embedding
 * model may take on the same device.
 *
 * <p>An estimate instead would have to know every kernel's workspace and the allocator's
 * fragmentation; the measurement includes them.
 */
final class KvCacheSizing {

    /**
     * Device memory as the driver reports it.
     *
     * @param totalBytes the device's memory
     * @param usedBytes  in use by anything, this process's cached blocks included
     */
    record DeviceMemory(long totalBytes, long usedBytes) {
    }

    /**
     * One step to profile: its sequences' query lengths, all at the same context.
     *
     * @param name     what it stands for, for the log
     * @param queries  per sequence, the tokens it computes this step
     * @param context  each sequence's context length after the step
     */
    record ProfileStep(String name, int[] queries, int context) {

        int tokens() {
            return Arrays.stream(queries).sum();
        }
    }

    /**
     * What the profile found.
     *
     * @param steps        the steps it ran
     * @param after        device memory after them
     * @param kvCacheBytes what the KV cache may take
     */
    record Sizing(List<ProfileStep> steps, DeviceMemory after, long kvCacheBytes) {
    }

    private KvCacheSizing() {
    }

    /**
     * The largest steps the {@link Scheduler} can build under {@code config} for a model of
     * {@code maxModelLength} tokens: one prompt chunk ending at the longest context (a sequence
     * alone runs whatever its transient bytes); as many decodes at the longest context as the
     * transient budget admits together; the most sequences one step can hold, for the sampler; and,
     * when a chunk is shorter than the step's token budget, the budget filled with fresh prompts'
     * chunks side by side (the activations grow with the step's tokens).
     */
    static List<ProfileStep> worstCaseSteps(EngineConfig config, int maxModelLength, StepTransient cost) {
        int rows = Math.min(config.maxNumSeqs(), config.maxNumBatchedTokens());
        int chunk = Math.min(Math.min(config.maxPrefillChunk(), config.maxNumBatchedTokens()), maxModelLength);
        BatchTransient batch = new BatchTransient(cost, config.transientBudgetBytes());
        int longDecodes = 0;
        do {
            batch.add(maxModelLength - 1, 1);
            longDecodes++;
        } while (longDecodes < rows && batch.bytesWith(maxModelLength - 1, 1) <= config.transientBudgetBytes());
        List<ProfileStep> steps = new ArrayList<>();
        steps.add(new ProfileStep("prompt chunk", new int[] {chunk}, maxModelLength));
        steps.add(new ProfileStep("decodes at the longest context", ones(longDecodes), maxModelLength));
        if (rows > longDecodes) {
            steps.add(new ProfileStep("the widest batch", ones(rows), 1));
        }
        int tokens = Math.min(config.maxNumBatchedTokens(), config.maxNumSeqs() * chunk);
        if (tokens > chunk) {
            int[] chunks = new int[(tokens + chunk - 1) / chunk];
            Arrays.fill(chunks, chunk);
            chunks[chunks.length - 1] = tokens - (chunks.length - 1) * chunk;
            steps.add(new ProfileStep("the token budget in prompt chunks", chunks, chunk));
        }
        return steps;
    }

    /**
     * Runs {@link #worstCaseSteps} on {@code model} and sizes the KV cache from {@code memory}
     * read afterwards.
     *
     * @param reservedBytes device memory kept for others in this process (the embedding model's cap)
     * @throws IllegalStateException when nothing is left for the KV cache, with the figures
     */
    static Sizing measure(DecoderModel model, AttentionChoice attention, EngineConfig config, int maxModelLength, long reservedBytes,
                          Supplier<DeviceMemory> memory) {
        StepTransient cost = StepTransient.of(model.config(), model.target().dtype().getNumOfBytes());
        List<ProfileStep> steps = worstCaseSteps(config, maxModelLength, cost);
        run(model, attention, config.blockSize(), steps);
        DeviceMemory after = memory.get();
        long kv = (long) (after.totalBytes() * config.gpuMemoryUtilization()) - after.usedBytes() - reservedBytes;
        if (kv < 2 * KvCacheSpec.bytesPerBlock(model.config(), config.blockSize(), model.target().dtype())) {
            throw new IllegalStateException("no device memory left for the KV cache: after the largest steps ("
                    + describe(steps) + ") " + (after.usedBytes() >> 20) + " of " + (after.totalBytes() >> 20) + " MiB are in use, "
                    + "gpu-memory-utilization " + config.gpuMemoryUtilization() + " allows " + ((long) (after.totalBytes()
                    * config.gpuMemoryUtilization()) >> 20) + " MiB and the embedding model keeps " + (reservedBytes >> 20)
                    + " MiB; lower max-num-batched-tokens, max-prefill-chunk, max-num-seqs or max-model-len, or raise"
                    + " gpu-memory-utilization");
        }
        return new Sizing(steps, after, kv);
    }

    /** Runs each step once, forward pass and sampling, and releases everything it allocated. */
    static void run(DecoderModel model, AttentionChoice choice, int blockSize, List<ProfileStep> steps) {
        try (NDManager owner = model.manager().newSubManager()) {
            PagedKvCache cache = PagedKvCache.allocate(KvCacheSpec.ofBlocks(model.config(), blockSize, model.target().dtype(), 2),
                    model.target().device(), owner);
            AttentionBackend attention = choice.create(cache, model.config());
            try (DeviceSampler sampler = new DeviceSampler(owner, model.target().device(), new HostCopies())) {
                for (ProfileStep step : steps) {
                    runStep(model, attention, sampler, blockSize, step);
                }
            }
        }
    }

    private static void runStep(DecoderModel model, AttentionBackend attention, DeviceSampler sampler, int blockSize, ProfileStep step) {
        int[] table = new int[(step.context() + blockSize - 1) / blockSize];
        Arrays.fill(table, KvCacheSpec.NULL_BLOCK + 1);
        // The sampler's largest plan: nucleus, penalties over the context, top logprobs.
        SamplingParams params = SamplingParams.builder().temperature(0.8).topP(0.9).repetitionPenalty(1.1)
                .logprobs(SamplingParams.MAX_LOGPROBS).build();
        List<SequenceChunk> chunks = new ArrayList<>(step.queries().length);
        List<Draw> draws = new ArrayList<>(step.queries().length);
        int[] prompt = new int[Math.min(step.context(), 4096)];
        for (int i = 0; i < step.queries().length; i++) {
            int q = step.queries()[i];
            chunks.add(new SequenceChunk(new int[q], step.context() - q, table, true));
            draws.add(new Draw(i, new SampleState(params, i, Set.of(), prompt)));
        }
        try (NDManager scope = model.manager().newSubManager()) {
            NDArray logits = model.forward(ForwardBatch.of(chunks, blockSize), attention, scope);
            sampler.sample(logits, draws, scope);
        }
    }

    static String describe(List<ProfileStep> steps) {
        return steps.stream().map(s -> s.name() + ": " + s.queries().length + " x " + s.queries()[0] + " tokens at context " + s.context())
                .reduce((a, b) -> a + "; " + b).orElse("none");
    }

    private static int[] ones(int n) {
        int[] a = new int[n];
        Arrays.fill(a, 1);
        return a;
    }
}
