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
 * <p>Issue 20 asks for NLL within 1 %; int8 does not reach it here, and the bounds below are what
 * it does reach with a margin, so that a regression fails. Measured, default int8 (layers and LM
 * head): NLL +4.96 %, KL 33.8 mnat/token token by token, KL 29.3 in prefills; layers alone +4.38 %,
 * 33.9, 29.1; with int8 embeddings +4.35 %, 41.0, 32.4. Before the asymmetric weights and the
 * row-scaled multi-row path: +4.31 %, 41.3, 49.1 (and 38.4, 72.8 with int8 embeddings).
 *
 * <p>Why KL is held too: the reference ids are float32's own argmax, so the NLL change of an
 * error has a first-order term whose sign is luck. In a float64 NumPy model of this forward pass
 * (docs/int8-accuracy.md), uniform noise of exactly round-to-nearest int8's size on the weights
 * moved this NLL between -3 % and +6.5 % with the seed (mean about +2.5 %), and a grouped Q8_0-like
 * grid scored +0.27 % while its KL was worse than the asymmetric grid's, which scored +3.6 %. KL is
 * second order, never negative, and ranks the variants as KL on the model's own samples does.
 * Reaching 1 % reliably needs about a quarter of int8's weight error (10-bit weights) and finer
 * activations as well, on this 64-wide, 5-layer model.
 */
class Int8Stories260KTest {

    // Measured (see the class comment) with a margin: NLL as a fraction of float32's, KL in nats per token.
    private static final double NLL_INT8 = 0.06;
    private static final double KL_INT8 = 0.040;
    private static final double PREFILL_KL_INT8 = 0.035;
    private static final double NLL_EMBEDDINGS = 0.12;
    private static final double KL_EMBEDDINGS = 0.045;
    private static final double PREFILL_KL_EMBEDDINGS = 0.045;

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
        // Without AVX-512 VNNI the weights get 63 levels instead of 127 (Int8Quantizer.levelsForThisCpu), twice the rounding
        // error: the NLL change measured +8.5 % there (twice VNNI's, before the current grid), and KL grows as its square.
        // Each CPU kind is held to what it reaches; the non-VNNI bounds are scaled, not measured.
        boolean vnni = Int8Quantizer.levelsForThisCpu() == 127;
        double nllWiden = vnni ? 1 : 2;
        double klWiden = vnni ? 1 : 4;
        Map<String, Bounds> choices = new LinkedHashMap<>();
        choices.put("int8", new Bounds(NLL_INT8, KL_INT8, PREFILL_KL_INT8));
        choices.put("int8,lm-head=float", new Bounds(NLL_INT8, KL_INT8, PREFILL_KL_INT8));
        choices.put("int8,embeddings=int8", new Bounds(NLL_EMBEDDINGS, KL_EMBEDDINGS, PREFILL_KL_EMBEDDINGS));
        for (var choice : choices.entrySet()) {
            try (LoadedModel int8 = LoadedModel.load(ModelLoadOptions.of(ref.directory(), ComputeTarget.cpuFloat32())
                    .withQuantization(Quantization.parse(choice.getKey())))) {
                Score q = score(read(int8.model(), Reading.DECODE), reference.get(Reading.DECODE));
                Score prefill = score(read(int8.model(), Reading.PREFILL), reference.get(Reading.PREFILL));
                int greedy = greedyAgreement(int8.model());
                double change = (q.nll() - baseNll) / baseNll;
                System.out.printf("stories260K %-22s NLL/token %.5f vs float32 %.5f (%+.3f %%), KL %.2f mnat/token, teacher-forced argmax"
                        + " agrees at %d of %d; read in prefills: NLL %+.3f %%, KL %.2f mnat/token, argmax %d of %d; free-running greedy ids"
                        + " agree before the first divergence: %d of %d (%s)%n", choice.getKey(), q.nll(), baseNll, 100 * change,
                        1000 * q.kl(), q.argmaxAgree(), q.tokens(), 100 * (prefill.nll() - baseNll) / baseNll, 1000 * prefill.kl(),
                        prefill.argmaxAgree(), prefill.tokens(), greedy, q.tokens(), int8.model().weightSummary().describe());
                Bounds bounds = choice.getValue();
                assertTrue(change <= bounds.nllChange() * nllWiden, choice.getKey() + ": NLL per token " + q.nll() + " against float32's "
                        + baseNll + ", more than " + 100 * bounds.nllChange() * nllWiden + " % worse");
                assertTrue(q.kl() <= bounds.decodeKl() * klWiden, choice.getKey() + ": KL " + q.kl() + " read token by token");
                assertTrue(prefill.kl() <= bounds.prefillKl() * klWiden, choice.getKey() + ": KL " + prefill.kl() + " read in prefills");
                assertTrue(int8.model().weightSummary().describe().contains("int8"), "the model runs int8 weights: "
                        + int8.model().weightSummary().describe());
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
