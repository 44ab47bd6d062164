package io.spillway.server.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.models.DummyShapes;
import io.spillway.models.LoadedModel;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.arch.DecoderModel;
import io.spillway.models.arch.ProjectionLayout;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.generate.DecodeStepRig;
import io.spillway.models.generate.GreedyGenerator;
import io.spillway.models.generate.GreedyReference;
import io.spillway.models.generate.TeacherForcing;
import io.spillway.models.runtime.ComputeTarget;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.Set;

/**
 * What an operator runs on a new box before serving from it ({@code deploy/gpu-acceptance}): the
 * device path against the CPU float32 path, which the test suite holds to independent reference
 * ids, and what a decode step costs on the device against its memory-bandwidth floor.
 *
 * <p>The device side runs the GPU's code path (2-D projections, block-table attention through
 * SDPA) even on a CPU, so that the reduced run CI makes compares two different paths.
 *
 * <p>Parity is judged on teacher-forced logits (both paths read the same ids at every position, see
 * {@link TeacherForcing}), as the largest absolute difference relative to the largest absolute
 * reference logit of the same row. A float32 device must also pick every reference id; a 16-bit
 * device rounds every activation, so where the reference's top two logits are close its pick may
 * differ: those agreements are counted and printed, not required.
 */
public final class DeviceAcceptance {

    /**
     * Allowed difference relative to the row's largest |logit|. float32: summation order alone, well
     * under 1e-4. float16: an 11-bit mantissa through every layer; libtorch's CPU float16 path
     * measured 1.35e-2 on stories260K (64 wide: few terms to average rounding out) and 2.9e-3 on the
     * SmolLM2-135M shape. 5e-2 leaves room for a device whose rounding differs and still catches a
     * wrong kernel or layout, which misses by the row's own scale (a relative difference near 1).
     * bfloat16: an 8-bit mantissa, some 7x float16's error; the CPU measured 8.9e-2 on stories260K
     * and 2.3e-2 on the SmolLM2-135M shape, so 0.2, still far under a wrong kernel's ~1.
     */
    static double tolerance(DataType dtype) {
        if (dtype == DataType.FLOAT32) {
            return 1e-4;
        }
        return dtype == DataType.BFLOAT16 ? 0.2 : 5e-2;
    }

    /** One parity check: {@code positions} rows compared. */
    public record Parity(String name, int positions, int argmaxAgree, double maxRelativeDiff, double allowed, boolean exactIdsRequired) {

        public boolean passed() {
            return maxRelativeDiff <= allowed && (!exactIdsRequired || argmaxAgree == positions);
        }

        String line() {
            return String.format(Locale.ROOT, "%-4s %-44s max |Δlogit| / max |logit| %.2e (allowed %.0e); argmax agrees at %d of %d%s",
                    passed() ? "PASS" : "FAIL", name, maxRelativeDiff, allowed, argmaxAgree, positions,
                    exactIdsRequired ? " (all required)" : "");
        }
    }

    /** Decode steps of {@code batch} sequences at {@code context}: medians and spread of {@code steps} timed steps. */
    public record StepTiming(String shape, int batch, int context, int steps, double medianMs, double minMs, double maxMs, long streamedBytes,
                             double bandwidthGBps) {

        /**
         * Reading every weight a step streams once at the measured bandwidth (WeightSummary's
         * streamed bytes): a batch-1 step cannot be faster. At larger batches the step also reads
         * each sequence's KV cache, which this leaves out.
         */
        public double floorMs() {
            return streamedBytes / (bandwidthGBps * 1e9) * 1e3;
        }

        public double tokensPerSecond() {
            return batch * 1e3 / medianMs;
        }

        String line() {
            return String.format(Locale.ROOT, "     %-16s batch %2d, context %d: %.2f ms/step (min %.2f, max %.2f, %d steps), %.1f tokens/s;"
                            + " %.1f MB of weights streamed, weights-only floor %.2f ms at %.1f GB/s, %.2fx the floor",
                    shape, batch, context, medianMs, minMs, maxMs, steps, tokensPerSecond(), streamedBytes / 1e6, floorMs(), bandwidthGBps,
                    medianMs / floorMs());
        }
    }

    /** How much to run: the full run on a GPU box, the reduced one in CI on the CPU. */
    public record Plan(ObjectNode shape, String shapeName, int continuation, List<Integer> batches, int context, int steps, long bandwidthBytes) {

        public static Plan full() {
            return new Plan(DummyShapes.llama32_1b(), "Llama-3.2-1B", 8, List.of(1, 16, 64), 512, 50, 1L << 30);
        }

        public static Plan reduced() {
            return new Plan(DummyShapes.smolLm2_135m(), "SmolLM2-135M", 4, List.of(1, 4), 128, 8, 1L << 28);
        }
    }

    private final ComputeTarget target;
    private final PrintStream out;

    public DeviceAcceptance(ComputeTarget target, PrintStream out) {
        this.target = target;
        this.out = out;
    }

    /** Runs every check and prints it; true when every parity check passed. */
    public boolean run(Path stories, Plan plan) {
        out.println("device acceptance: " + target + " against cpu/float32");
        List<Parity> checks = new ArrayList<>();
        checks.addAll(storiesParity(stories));
        checks.add(shapeParity(plan));
        for (Parity p : checks) {
            out.println(p.line());
        }
        double bandwidth = bandwidthGBps(plan.bandwidthBytes());
        out.printf(Locale.ROOT, "     %s read bandwidth: %.1f GB/s (summing %d MiB)%n", target.device(), bandwidth, plan.bandwidthBytes() >> 20);
        // Timed as this device serves: its own defaults (on a GPU, the same path as the parity checks).
        try (LoadedModel model = LoadedModel.load(DummyShapes.options(plan.shape(), target))) {
            out.println("     " + plan.shapeName() + " weights: " + model.model().weightSummary().describe());
            for (int batch : plan.batches()) {
                out.println(time(model, plan, batch, bandwidth).line());
            }
        }
        boolean passed = checks.stream().allMatch(Parity::passed);
        out.println(passed ? "device acceptance passed" : "device acceptance FAILED: the device path does not match the CPU path");
        return passed;
    }

    /**
     * stories260K's reference continuations: the CPU float32 path must pick every reference id (else
     * the build itself is wrong, whatever the device does), and the device path must match it.
     */
    List<Parity> storiesParity(Path dir) {
        GreedyReference ref = GreedyReference.read(dir);
        ComputeTarget cpu = ComputeTarget.cpuFloat32();
        try (LoadedModel reference = LoadedModel.load(ModelLoadOptions.of(dir, cpu));
             LoadedModel device = LoadedModel.load(gpuPath(ModelLoadOptions.of(dir, target)))) {
            Comparison self = new Comparison();
            Comparison across = new Comparison();
            for (int c = 0; c < ref.prompts().size(); c++) {
                int[] expected = ref.expected().get(c);
                float[][] base = TeacherForcing.logits(reference.model(), ref.prompts().get(c), expected);
                float[][] rows = TeacherForcing.logits(device.model(), ref.prompts().get(c), expected, device.attention());
                self.addIds(base, expected);
                across.add(base, rows);
            }
            return List.of(
                    self.result("stories260K cpu/float32 picks reference.json", 0, true),
                    across.result("stories260K " + target, tolerance(target.dtype()), target.dtype() == DataType.FLOAT32));
        }
    }

    /** Random weights of a serving-sized shape, identical on both sides: a random prompt, the CPU's greedy continuation. */
    Parity shapeParity(Plan plan) {
        Comparison across = new Comparison();
        try (LoadedModel reference = LoadedModel.load(DummyShapes.options(plan.shape(), ComputeTarget.cpuFloat32()));
             LoadedModel device = LoadedModel.load(gpuPath(DummyShapes.options(plan.shape(), target)))) {
            int[] prompt = new Random(7).ints(32, 0, reference.config().vocabSize()).toArray();
            int[] continuation;
            try (GreedyGenerator greedy = new GreedyGenerator(reference.model(), 1, prompt.length + plan.continuation())) {
                continuation = greedy.generate(List.of(prompt), plan.continuation(), Set.of()).get(0);
            }
            across.add(TeacherForcing.logits(reference.model(), prompt, continuation),
                    TeacherForcing.logits(device.model(), prompt, continuation, device.attention()));
        }
        return across.result(plan.shapeName() + " (random weights) " + target, tolerance(target.dtype()), target.dtype() == DataType.FLOAT32);
    }

    private StepTiming time(LoadedModel loaded, Plan plan, int batch, double bandwidth) {
        DecoderModel model = loaded.model();
        try (DecodeStepRig rig = new DecodeStepRig(model, batch, plan.context(), 42, loaded.attention())) {
            for (int i = 0; i < 3; i++) {
                rig.step();
            }
            double[] ms = new double[plan.steps()];
            for (int i = 0; i < ms.length; i++) {
                long start = System.nanoTime();
                rig.step();
                ms[i] = (System.nanoTime() - start) / 1e6;
            }
            Arrays.sort(ms);
            return new StepTiming(plan.shapeName(), batch, plan.context(), ms.length, ms[ms.length / 2], ms[0], ms[ms.length - 1],
                    model.weightSummary().streamedBytes(), bandwidth);
        }
    }

    /**
     * What a GPU runs, whatever the device: the 2-D projection layout and block-table attention
     * through SDPA. On a GPU these are its defaults anyway; with {@code --device cpu} they make the
     * check compare the GPU's code path with the CPU's, in libtorch's CPU kernels.
     */
    private static ModelLoadOptions gpuPath(ModelLoadOptions options) {
        return options.withProjectionLayout(ProjectionLayout.LINEAR).withAttention(AttentionChoice.BLOCKS_SDPA);
    }

    /** Summing {@code bytes} of float32 on the device, best of five: how fast the device streams memory. */
    private double bandwidthGBps(long bytes) {
        try (NDManager manager = NDManager.newBaseManager(target.device())) {
            NDArray data = manager.ones(new Shape(bytes / 4), DataType.FLOAT32);
            double best = Double.MAX_VALUE;
            for (int i = 0; i < 6; i++) {
                long start = System.nanoTime();
                try (NDArray sum = data.sum()) {
                    sum.getFloat();
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                if (i > 0) {
                    best = Math.min(best, seconds);
                }
            }
            return bytes / best / 1e9;
        }
    }

    /** Per-row relative differences and argmax agreements, accumulated over cases. */
    static final class Comparison {
        private double worst;
        private int positions;
        private int agree;

        void add(float[][] reference, float[][] rows) {
            for (int t = 0; t < reference.length; t++) {
                double scale = 0;
                double diff = 0;
                for (int v = 0; v < reference[t].length; v++) {
                    scale = Math.max(scale, Math.abs(reference[t][v]));
                    double d = Math.abs((double) reference[t][v] - rows[t][v]);
                    // A NaN or infinite row must fail, not compare as "not greater".
                    diff = Double.isNaN(d) || Double.isInfinite(d) ? Double.POSITIVE_INFINITY : Math.max(diff, d);
                }
                worst = Math.max(worst, diff / Math.max(scale, Float.MIN_NORMAL));
                agree += argmax(reference[t]) == argmax(rows[t]) ? 1 : 0;
                positions++;
            }
        }

        void addIds(float[][] rows, int[] expected) {
            for (int t = 0; t < expected.length; t++) {
                agree += argmax(rows[t]) == expected[t] ? 1 : 0;
                positions++;
            }
        }

        Parity result(String name, double allowed, boolean exactIds) {
            return new Parity(name, positions, agree, worst, allowed, exactIds);
        }
    }

    private static int argmax(float[] row) {
        int best = 0;
        for (int i = 1; i < row.length; i++) {
            if (row[i] > row[best]) {
                best = i;
            }
        }
        return best;
    }
}
