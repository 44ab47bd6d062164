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
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * int8 on a real trained model: stories260K's reference continuations, read token by token
 * (teacher forcing), scored by negative log-likelihood per token against float32's. How many
 * greedy ids agree is counted and printed, not required: the reference is cut where float32's
 * top-2 margin is 0.02, which int8's error can exceed.
 *
 * <p>Issue 20 asks for 1 %; this kernel does not reach it here, and the bounds below are what it
 * does reach with a margin, so that a regression fails. Measured: default int8 (layers and LM head)
 * +4.36 %, layers alone +4.35 %, with int8 embeddings +9.3 %. The same per-channel int8 weights
 * applied in float32 (weight-only, dequantized) gave +1.63 %: most of the loss is fbgemm's
 * per-call uint8 quantization of the activations, and even weight-only round-to-nearest misses
 * 1 % on this 64-wide model.
 */
class Int8Stories260KTest {

    private static StoriesReference ref;
    private static LoadedModel float32;

    @BeforeAll
    static void load() {
        ref = StoriesReference.load();
        float32 = LoadedModel.load(ModelLoadOptions.of(ref.directory(), ComputeTarget.cpuFloat32()));
    }

    @AfterAll
    static void close() {
        float32.close();
    }

    /** Mean NLL per continuation token and the number of positions whose argmax is the reference id. */
    record Score(double nll, int tokens, int argmaxAgree) {
    }

    @Test
    void int8StaysWithinItsMeasuredDistanceOfFloat32() {
        Score base = score(float32.model());
        assertEquals(base.tokens(), base.argmaxAgree(), "float32 must reproduce its own reference under teacher forcing");
        // Without AVX-512 VNNI the weights get 63 levels instead of 127 (Int8Quantizer.levelsForThisCpu), which measured
        // +8.5 % on stories260K: each CPU kind is held to what it reaches.
        double widen = Int8Quantizer.levelsForThisCpu() == 127 ? 1 : 2;
        for (var choice : List.of(Map.entry("int8", 0.05 * widen), Map.entry("int8,lm-head=float", 0.05 * widen),
                Map.entry("int8,embeddings=int8", 0.11 * widen))) {
            try (LoadedModel int8 = LoadedModel.load(ModelLoadOptions.of(ref.directory(), ComputeTarget.cpuFloat32())
                    .withQuantization(Quantization.parse(choice.getKey())))) {
                Score q = score(int8.model());
                int greedy = greedyAgreement(int8.model());
                double change = (q.nll() - base.nll()) / base.nll();
                System.out.printf("stories260K %-36s NLL/token %.5f vs float32 %.5f (%+.3f %%); teacher-forced argmax agrees at %d of %d;"
                        + " free-running greedy ids agree before the first divergence: %d of %d (%s)%n", choice.getKey(), q.nll(), base.nll(),
                        100 * change, q.argmaxAgree(), q.tokens(), greedy, q.tokens(), int8.model().weightSummary().describe());
                assertTrue(change <= choice.getValue(), choice.getKey() + ": NLL per token " + q.nll() + " against float32's " + base.nll()
                        + ", more than " + 100 * choice.getValue() + " % worse");
                assertTrue(int8.model().weightSummary().describe().contains("int8"), "the model runs int8 weights: "
                        + int8.model().weightSummary().describe());
                assertTrue(change > 0.001, choice.getKey() + ": int8 weights cannot score like float32's (" + change + "): were they applied?");
            }
        }
    }

    private static Score score(DecoderModel model) {
        double nll = 0;
        int tokens = 0;
        int agree = 0;
        for (int c = 0; c < ref.prompts().size(); c++) {
            int[] continuation = ref.expected().get(c);
            float[][] rows = TeacherForcing.logits(model, ref.prompts().get(c), continuation);
            for (int t = 0; t < continuation.length; t++) {
                nll += negativeLogLikelihood(rows[t], continuation[t]);
                agree += Rows.argmax(rows[t]) == continuation[t] ? 1 : 0;
                tokens++;
            }
        }
        return new Score(nll / tokens, tokens, agree);
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

    private static double negativeLogLikelihood(float[] logits, int target) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : logits) {
            sum += Math.exp(v - max);
        }
        return -(logits[target] - max - Math.log(sum));
    }
}
