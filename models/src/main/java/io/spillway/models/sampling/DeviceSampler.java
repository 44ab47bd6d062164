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
 * one upload (the {@link SamplePlan}, {@link #plan}), one script call ({@link #draw}), and back to
 * the host only a token id per draw and the log-probabilities asked for, through {@link HostCopies}
 * ({@link Drawn#samples()}). Gives the tokens Java's {@link Sampler} gives for the same logits,
 * seeds and parameters (see the script for the last-bit differences that remain).
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
     * Draws from {@code logits} at once: {@link #plan}, its upload, {@link #draw}, then the samples.
     *
     * @param logits float32 {@code [rows, vocab]} on the device; consumed: the script may edit them
     * @param draws  what to draw, each from its row
     * @param step   owns what this call allocates
     * @return one sample per draw, in order
     */
    public List<Sample> sample(NDArray logits, List<Draw> draws, NDManager step) {
        if (logits.getShape().dimension() != 2) {
            throw new IllegalArgumentException("logits are " + logits.getDataType() + " " + logits.getShape() + ", not [rows, vocab]");
        }
        Shape shape = logits.getShape();
        Planned planned = plan(draws, (int) shape.get(0), (int) shape.get(1));
        staging.reset();
        planned.upload(staging, step);
        return draw(logits, planned, step).samples();
    }

    /**
     * Packs what to draw; {@link Planned#upload} stages it. Upload it before the forward pass that
     * makes the logits is queued, in the same transfer as the pass's inputs: a copy from pageable
     * host memory may wait for the device's queue to drain, so uploaded first it never waits for
     * the forward pass, and queueing a step returns before the device ran it.
     *
     * @param draws what to draw, each from its row
     * @param rows  logits rows the forward pass will produce
     * @param vocab their length
     */
    public Planned plan(List<Draw> draws, int rows, int vocab) {
        return new Planned(draws, draws.isEmpty() ? null : SamplePlan.of(draws, rows, vocab), rows, vocab);
    }

    /**
     * Queues the draws of {@code planned} from {@code logits}; nothing comes back to the host
     * until {@link Drawn#samples()}.
     *
     * @param logits float32 {@code [rows, vocab]} on the device, the rows and vocabulary planned; consumed
     * @param step   owns what the draws allocate
     */
    public Drawn draw(NDArray logits, Planned planned, NDManager step) {
        if (planned.draws.isEmpty()) {
            return new Drawn(planned, null);
        }
        if (planned.packed == null) {
            throw new IllegalStateException("the draws were not uploaded");
        }
        if (logits.getDataType() != DataType.FLOAT32 || logits.getShape().dimension() != 2
                || logits.getShape().get(0) != planned.rows || logits.getShape().get(1) != planned.vocab) {
            throw new IllegalArgumentException("logits are " + logits.getDataType() + " " + logits.getShape() + ", not float32 ["
                    + planned.rows + ", " + planned.vocab + "] as planned");
        }
        PlanLayout layout = planned.plan.layout();
        List<NDArray> races = layout.raced() + layout.nucleus() > 0 ? scratch.tensors(layout.raceRows(), planned.vocab) : List.of();
        NDArray[] out = script.forwardList(new SamplerCall(logits, planned.packed, layout, races), step);
        for (NDArray o : out) {
            o.attach(step);
        }
        return new Drawn(planned, out);
    }

    /** A step's draws, packed: uploaded once, then {@link #draw} queues them once the logits are queued. */
    public static final class Planned {
        private final List<Draw> draws;
        private final SamplePlan plan;
        private final int rows;
        private final int vocab;
        private NDArray packed;

        private Planned(List<Draw> draws, SamplePlan plan, int rows, int vocab) {
            this.draws = draws;
            this.plan = plan;
            this.rows = rows;
            this.vocab = vocab;
        }

        /**
         * Stages the packed parameters (the int64 words of a batched staging reach the device at
         * its flush, which must come before {@link #draw}).
         *
         * @param step owns the staged tensor
         */
        public void upload(HostStaging staging, NDManager step) {
            if (packed != null) {
                throw new IllegalStateException("the draws were uploaded already");
            }
            if (plan != null) {
                packed = staging.longs(step, plan.data(), plan.length(), new Shape(plan.length()));
            }
        }
    }

    /** A step's draws, queued on the device. */
    public final class Drawn {
        private final Planned planned;
        private final NDArray[] out;

        private Drawn(Planned planned, NDArray[] out) {
            this.planned = planned;
            this.out = out;
        }

        /**
         * Waits for the draws (this copy to the host is where the engine thread waits for the
         * device) and returns one sample per draw, in order.
         */
        public List<Sample> samples() {
            if (out == null) {
                return List.of();
            }
            long[] ids = copies.longs(out[0]);
            long[] topIds = copies.longs(out[1]);
            float[] logprobs = copies.floats(out[2]);
            return DeviceSampler.samples(planned.draws, planned.plan, ids, topIds, logprobs);
        }
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

    /** Uploads made by {@link #sample} on its own (the engine's draws travel with the forward pass's inputs instead). */
    public long transfers() {
        return staging.transfers();
    }

    @Override
    public void close() {
        scratch.close();
        script.close();
    }
}
