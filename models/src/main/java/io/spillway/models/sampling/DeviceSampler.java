package io.spillway.models.sampling;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.runtime.HostCopies;
import io.spillway.models.runtime.HostStaging;
import io.spillway.models.runtime.TorchScriptModule;
import java.util.ArrayList;
import java.util.List;

/**
 * Draws a step's tokens on the device that holds the logits, with {@code sampler.torchscript}:
 * one upload (the {@link SamplePlan}), one script call, and back to the host only a token id per
 * draw and the log-probabilities asked for, through {@link HostCopies}. Gives the tokens Java's
 * {@link Sampler} gives for the same logits, seeds and parameters (see the script for the last-bit
 * differences that remain).
 *
 * <p>Ownership: the compiled script and the races' scratch are this object's until {@link #close};
 * everything else a call creates belongs to the caller's step manager. Not thread-safe: the engine thread's.
 */
public final class DeviceSampler implements AutoCloseable {

    private final TorchScriptModule script;
    private final HostStaging staging;
    private final HostCopies copies;
    private final RaceScratch scratch;

    /**
     * @param manager where the script is loaded
     * @param device  where the logits will be
     * @param copies  counts what comes back to the host
     */
    public DeviceSampler(NDManager manager, Device device, HostCopies copies) {
        this.script = SamplerScript.compile(manager);
        this.staging = new HostStaging(device, 64 << 10);
        this.copies = copies;
        this.scratch = new RaceScratch(manager, device);
    }

    /**
     * Allocates now the scratch the races over {@code vocab} logits need, which the first sampled
     * step would otherwise: memory held for the engine's life is then taken at load, with the KV
     * cache, rather than by a request.
     */
    public void reserve(int vocab) {
        scratch.tensors(SamplePlan.raceRows(vocab), vocab);
    }

    /**
     * @param logits float32 {@code [rows, vocab]} on the device; consumed: the script may edit them
     * @param draws  what to draw, each from its row
     * @param step   owns what this call allocates
     * @return one sample per draw, in order
     */
    public List<Sample> sample(NDArray logits, List<Draw> draws, NDManager step) {
        if (draws.isEmpty()) {
            return List.of();
        }
        if (logits.getDataType() != DataType.FLOAT32 || logits.getShape().dimension() != 2) {
            throw new IllegalArgumentException("logits are " + logits.getDataType() + " " + logits.getShape() + ", not float32 [rows, vocab]");
        }
        int rows = (int) logits.getShape().get(0);
        int vocab = (int) logits.getShape().get(1);
        SamplePlan plan = SamplePlan.of(draws, rows, vocab);
        staging.reset();
        NDArray packed = staging.longs(step, plan.data(), plan.length(), new Shape(plan.length()));
        PlanLayout layout = plan.layout();
        List<NDArray> races = layout.raced() + layout.nucleus() > 0 ? scratch.tensors(layout.raceRows(), vocab) : List.of();
        NDArray[] out = script.forwardList(new SamplerCall(logits, packed, layout, races), step);
        for (NDArray o : out) {
            o.attach(step);
        }
        long[] ids = copies.longs(out[0]);
        long[] topIds = copies.longs(out[1]);
        float[] logprobs = copies.floats(out[2]);
        return samples(draws, plan, ids, topIds, logprobs);
    }

    private static List<Sample> samples(List<Draw> draws, SamplePlan plan, long[] ids, long[] topIds, float[] logprobs) {
        List<Sample> samples = new ArrayList<>(draws.size());
        int asked = plan.layout().logprobSamples();
        int logprobDraw = 0;
        int offset = 0;
        for (int s = 0; s < draws.size(); s++) {
            int token = (int) ids[s];
            if (draws.get(s).state().params().logprobs() == null) {
                samples.add(new Sample(token, Float.NaN, List.of()));
                continue;
            }
            int n = plan.topCounts()[logprobDraw];
            List<TokenLogprob> top = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                top.add(new TokenLogprob((int) topIds[offset + i], logprobs[asked + offset + i]));
            }
            samples.add(new Sample(token, logprobs[logprobDraw], top));
            offset += n;
            logprobDraw++;
        }
        return samples;
    }

    @Override
    public void close() {
        scratch.close();
        script.close();
    }
}
