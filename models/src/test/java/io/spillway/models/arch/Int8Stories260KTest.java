package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.models.LoadedModel;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.generate.GreedyGenerator;
import io.spillway.models.generate.TeacherForcing;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.testing.Rows;
import io.spillway.models.testing.StoriesReference;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * int8 on a real trained model: stories260K's reference continuations, read token by token
 * (teacher forcing) and, separately, each prefix in one prefill call, scored against float32 by
 * the negative log-likelihood per token of the reference ids and by the KL divergence from
 * float32's distribution. How many greedy ids agree is counted and printed, not required: the
 * reference is cut where float32's top-2 margin is 0.02, which int8's error can exceed.
 *
 * <p>Both kernels are held to what they reach, with a margin, so that a regression fails. Spillway's
 * (int8 in blocks of 32 inputs, activations int8 plus a residual int8 per 32 inputs; the default
 * where it runs): issue 20's NLL within 1 % of float32, measured -0.11 % with KL 15.6 mnat/token
 * read token by token and 15.6 in prefills (layers alone -0.14 %, 15.7; with int8 embeddings
 * +1.01 %, 17.2); docs/int8-accuracy.py's float64 model of the same arithmetic predicts -0.13 %,
 * 15.6. fbgemm's (per-channel asymmetric weights, uint8 activations per call or per row): NLL
 * +5.15 %, KL 34.4 and 29.3 in prefills; layers alone +4.47 %, 34.5, 29.2; with int8 embeddings
 * +4.64 %, 40.4, 32.3.
 *
 * <p>Why KL is held too: the reference ids are float32's own argmax, so the NLL change of an
 * error has a first-order term whose sign is luck. In the NumPy model, uniform noise of exactly
 * round-to-nearest per-channel int8's size on the weights moved this NLL between -3 % and +6.5 %
 * with the seed (mean about +2.5 %). KL is second order, never negative, and ranks the variants as
 * KL on the model's own samples does. So KL is the bound that guards the kernel: without the
 * activations' residual it would be 29.7, with symmetric per-row weights 20.2, both over 18.
 * int8 embeddings (per row) miss the 1 % (+1.01 %); they are not the default.
 */
class Int8Stories260KTest {

    // Measured (see the class comment) with a margin: NLL as a fraction of float32's, KL in nats per token.
    private static final Bounds SPILLWAY = new Bounds(0.01, 0.018, 0.018);
    private static final Bounds SPILLWAY_EMBEDDINGS = new Bounds(0.015, 0.020, 0.020);
    private static final Bounds FBGEMM = new Bounds(0.06, 0.040, 0.035);
    private static final Bounds FBGEMM_EMBEDDINGS = new Bounds(0.12, 0.045, 0.045);

    private static StoriesReference ref;
    private static LoadedModel float32;

    @BeforeAll
    static void load() {
        ref = StoriesReference.load();
        float32 = LoadedModel.load(ModelLoadOptions.of(ref.directory(), ComputeTarget.cpuFloat32()));
    }

    @AfterAll
    static void close() {
        // Unloaded when the shared data is missing outside CI (the class is skipped, not failed).
        if (float32 != null) {
            float32.close();
        }
    }

    /**
     * Means per continuation token of the reference id's negative log-likelihood and of the KL
     * divergence from float32's distribution, and the number of positions whose argmax is the reference id.
     */
    record Score(double nll, double kl, int tokens, int argmaxAgree) {
    }

    /** The bounds one choice is held to: NLL and KL read token by token, KL read in prefills. */
    record Bounds(double nllChange, double decodeKl, double prefillKl) {

        /** For an error {@code factor} times larger: the NLL change grows with it, KL with its square. */
        Bounds widened(double factor) {
            return new Bounds(nllChange * factor, decodeKl * factor * factor, prefillKl * factor * factor);
        }
    }

    /** How the continuation is read: token by token after the prompt's prefill, or every prefix in one prefill call. */
    enum Reading {
        DECODE, PREFILL;

        float[][] logits(DecoderModel model, int[] prompt, int[] continuation) {
            return this == DECODE ? TeacherForcing.logits(model, prompt, continuation) : TeacherForcing.prefillLogits(model, prompt, continuation);
        }
    }

    @Test
    void int8StaysWithinItsMeasuredDistanceOfFloat32() {
        Map<Reading, List<float[][]>> reference = new EnumMap<>(Reading.class);
        for (Reading reading : Reading.values()) {
            List<float[][]> rows = new ArrayList<>();
            for (int c = 0; c < ref.prompts().size(); c++) {
                rows.add(reading.logits(float32.model(), ref.prompts().get(c), ref.expected().get(c)));
            }
            reference.put(reading, rows);
            Score base = score(rows, rows);
            assertEquals(base.tokens(), base.argmaxAgree(), "float32 must reproduce its own reference read as " + reading);
        }
        double baseNll = score(reference.get(Reading.DECODE), reference.get(Reading.DECODE)).nll();
        Map<String, Bounds> choices = new LinkedHashMap<>();
        if (NativeInt4LinearTest.operatorRuns()) {
            choices.put("int8", SPILLWAY);
            choices.put("int8,lm-head=float", SPILLWAY);
            choices.put("int8,embeddings=int8", SPILLWAY_EMBEDDINGS);
        }
        // Without AVX-512 VNNI fbgemm's weights get 63 levels instead of 127 (Int8Quantizer.levelsForThisCpu), twice the
        // rounding error: the NLL change measured +8.5 % there (twice VNNI's, before the current grid), and KL grows as its
        // square. Each CPU kind is held to what it reaches; the non-VNNI bounds are scaled, not measured.
        double widen = Int8Quantizer.levelsForThisCpu() == 127 ? 1 : 2;
        choices.put("fbgemm int8", FBGEMM.widened(widen));
        choices.put("fbgemm int8,lm-head=float", FBGEMM.widened(widen));
        choices.put("fbgemm int8,embeddings=int8", FBGEMM_EMBEDDINGS.widened(widen));
        for (var choice : choices.entrySet()) {
            boolean fbgemm = choice.getKey().startsWith("fbgemm ");
            String quantization = choice.getKey().replace("fbgemm ", "");
            QuantizedKernels kernels = fbgemm ? QuantizedKernels.LIBTORCH : QuantizedKernels.SPILLWAY;
            try (LoadedModel int8 = LoadedModel.load(ModelLoadOptions.of(ref.directory(), ComputeTarget.cpuFloat32())
                    .withQuantization(Quantization.parse(quantization)).withQuantizedKernels(kernels))) {
                Score q = score(read(int8.model(), Reading.DECODE), reference.get(Reading.DECODE));
                Score prefill = score(read(int8.model(), Reading.PREFILL), reference.get(Reading.PREFILL));
                int greedy = greedyAgreement(int8.model());
                double change = (q.nll() - baseNll) / baseNll;
                String summary = int8.model().weightSummary().describe();
                System.out.printf("stories260K %-28s NLL/token %.5f vs float32 %.5f (%+.3f %%), KL %.2f mnat/token, teacher-forced argmax"
                        + " agrees at %d of %d; read in prefills: NLL %+.3f %%, KL %.2f mnat/token, argmax %d of %d; free-running greedy ids"
                        + " agree before the first divergence: %d of %d (%s)%n", choice.getKey(), q.nll(), baseNll, 100 * change,
                        1000 * q.kl(), q.argmaxAgree(), q.tokens(), 100 * (prefill.nll() - baseNll) / baseNll, 1000 * prefill.kl(),
                        prefill.argmaxAgree(), prefill.tokens(), greedy, q.tokens(), summary);
                Bounds bounds = choice.getValue();
                assertTrue(Math.abs(change) <= bounds.nllChange(), choice.getKey() + ": NLL per token " + q.nll() + " against float32's "
                        + baseNll + ", more than " + 100 * bounds.nllChange() + " % away");
                assertTrue(q.kl() <= bounds.decodeKl(), choice.getKey() + ": KL " + q.kl() + " read token by token");
                assertTrue(prefill.kl() <= bounds.prefillKl(), choice.getKey() + ": KL " + prefill.kl() + " read in prefills");
                assertTrue(summary.contains(fbgemm ? Int8Weights.KERNEL : GroupedWeights.INT8_KERNEL), "the model runs "
                        + kernels + "'s int8 kernel: " + summary);
                assertTrue(q.kl() > 1e-3, choice.getKey() + ": int8 weights cannot score like float32's (KL " + q.kl() + "): were they applied?");
            }
        }
    }

    private static List<float[][]> read(DecoderModel model, Reading reading) {
        List<float[][]> rows = new ArrayList<>();
        for (int c = 0; c < ref.prompts().size(); c++) {
            rows.add(reading.logits(model, ref.prompts().get(c), ref.expected().get(c)));
        }
        return rows;
    }

    private static Score score(List<float[][]> rows, List<float[][]> reference) {
        double nll = 0;
        double kl = 0;
        int tokens = 0;
        int agree = 0;
        for (int c = 0; c < rows.size(); c++) {
            int[] continuation = ref.expected().get(c);
            for (int t = 0; t < continuation.length; t++) {
                double[] p = logSoftmax(reference.get(c)[t]);
                double[] q = logSoftmax(rows.get(c)[t]);
                nll -= q[continuation[t]];
                for (int v = 0; v < p.length; v++) {
                    kl += Math.exp(p[v]) * (p[v] - q[v]);
                }
                agree += Rows.argmax(rows.get(c)[t]) == continuation[t] ? 1 : 0;
                tokens++;
            }
        }
        return new Score(nll / tokens, kl / tokens, tokens, agree);
    }

    private static int greedyAgreement(DecoderModel model) {
        int agree = 0;
        try (GreedyGenerator generator = new GreedyGenerator(model, 1, 128)) {
            for (int c = 0; c < ref.prompts().size(); c++) {
                int[] expected = ref.expected().get(c);
                int[] out = generator.generate(List.of(ref.prompts().get(c)), expected.length, Set.of()).get(0);
                int i = 0;
                while (i < expected.length && i < out.length && out[i] == expected[i]) {
                    i++;
                }
                agree += i;
            }
        }
        return agree;
    }

    private static double[] logSoftmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : logits) {
            sum += Math.exp(v - max);
        }
        double log = max + Math.log(sum);
        double[] out = new double[logits.length];
        for (int i = 0; i < logits.length; i++) {
            out[i] = logits[i] - log;
        }
        return out;
    }
}
