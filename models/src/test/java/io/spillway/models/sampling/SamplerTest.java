package io.spillway.models.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SamplerTest {

    private static final int V = 1000;
    private final Sampler sampler = new Sampler();

    private static float[] logits(long seed) {
        Random r = new Random(seed);
        float[] l = new float[V];
        for (int i = 0; i < V; i++) {
            l[i] = (float) (r.nextGaussian() * 3);
        }
        return l;
    }

    private static SampleState state(SamplingParams p, long seed) {
        return new SampleState(p, seed, Set.of(2), new int[] {5, 6, 7});
    }

    private static int argmax(float[] l) {
        return Sampler.argmax(l, l.length);
    }

    @Test
    void greedyIsArgmaxAndTopKOneIsGreedy() {
        float[] l = logits(1);
        assertEquals(argmax(l), sampler.sample(l, 0, V, state(SamplingParams.builder().temperature(0).build(), 1)).token());
        assertEquals(argmax(l), sampler.sample(l, 0, V, state(SamplingParams.builder().temperature(1.5).topK(1).build(), 9)).token());
    }

    @Test
    void sameSeedSameTokensWhateverTheRowOffset() {
        float[] l = logits(2);
        float[] batch = new float[3 * V];
        System.arraycopy(l, 0, batch, 2 * V, V);
        SamplingParams p = SamplingParams.builder().temperature(1.0).topP(0.9).build();
        SampleState a = state(p, 42);
        SampleState b = state(p, 42);
        for (int i = 0; i < 50; i++) {
            int ta = sampler.sample(l, 0, V, a).token();
            int tb = sampler.sample(batch, 2 * V, V, b).token();
            assertEquals(ta, tb);
            a.accept(ta);
            b.accept(tb);
        }
    }

    @Test
    void temperatureSamplingFollowsTheSoftmax() {
        float[] l = new float[V];
        java.util.Arrays.fill(l, -50);
        l[10] = 1;
        l[20] = 0;
        SampleState s = state(SamplingParams.builder().temperature(1).build(), 3);
        int tens = 0;
        int n = 20000;
        for (int i = 0; i < n; i++) {
            int t = sampler.sample(l, 0, V, s).token();
            s.accept(t);
            assertTrue(t == 10 || t == 20);
            tens += t == 10 ? 1 : 0;
        }
        double expected = Math.exp(1) / (Math.exp(1) + 1);
        assertEquals(expected, tens / (double) n, 0.015);
    }

    /**
     * The two-level race picks each token in proportion to its weight, over a vocabulary whose last
     * group is partial (1000 = 15 × 64 + 40): a chi-square test of 100,000 seeded draws against
     * the softmax, bins of fewer than 5 expected draws merged. Its bound, the degrees of freedom
     * plus 5 standard deviations, is passed by chance with odds of about 1e-6 against.
     */
    @Test
    void wholeVocabularyDrawsFollowTheSoftmax() {
        float[] l = gaussianLogits(11);
        double[] p = softmax(l);
        SampleState s = state(SamplingParams.builder().temperature(1).maxTokens(1 << 20).build(), 12);
        long[] counts = new long[V];
        int n = 100_000;
        for (int i = 0; i < n; i++) {
            int t = sampler.sample(l, 0, V, s).token();
            s.accept(t);
            counts[t]++;
        }
        assertChiSquare(p, counts, n);
    }

    /**
     * top_p alone keeps its nucleus (larger logits first, until their mass reaches top_p) and,
     * within it, follows the weights renormalized: the draws that landed outside the nucleus and
     * were drawn again must leave no bias.
     */
    @Test
    void nucleusDrawsFollowTheWeightsWithinTheNucleus() {
        float[] l = gaussianLogits(13);
        double[] p = softmax(l);
        Integer[] order = new Integer[V];
        for (int i = 0; i < V; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (a, b) -> Float.compare(l[b], l[a]));
        double[] kept = new double[V];
        double before = 0;
        double mass = 0;
        for (int i : order) {
            if (before >= 0.6) {
                break;
            }
            kept[i] = p[i];
            before += p[i];
            mass += p[i];
        }
        for (int i = 0; i < V; i++) {
            kept[i] /= mass;
        }
        SampleState s = state(SamplingParams.builder().temperature(1).topP(0.6).maxTokens(1 << 20).build(), 14);
        long[] counts = new long[V];
        int n = 100_000;
        for (int i = 0; i < n; i++) {
            int t = sampler.sample(l, 0, V, s).token();
            s.accept(t);
            assertTrue(kept[t] > 0, "token " + t + " is outside the nucleus");
            counts[t]++;
        }
        assertChiSquare(kept, counts, n);
    }

    private static float[] gaussianLogits(long seed) {
        Random r = new Random(seed);
        float[] l = new float[V];
        for (int i = 0; i < V; i++) {
            l[i] = (float) r.nextGaussian();
        }
        return l;
    }

    private static double[] softmax(float[] l) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : l) {
            max = Math.max(max, x);
        }
        double[] p = new double[l.length];
        double sum = 0;
        for (int i = 0; i < l.length; i++) {
            p[i] = Math.exp(l[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < l.length; i++) {
            p[i] /= sum;
        }
        return p;
    }

    private static void assertChiSquare(double[] p, long[] counts, int n) {
        double chi = 0;
        int bins = 0;
        double pooledExpected = 0;
        long pooledCount = 0;
        for (int i = 0; i < p.length; i++) {
            if (p[i] == 0) {
                continue;
            }
            if (p[i] * n < 5) {
                pooledExpected += p[i] * n;
                pooledCount += counts[i];
                continue;
            }
            double d = counts[i] - p[i] * n;
            chi += d * d / (p[i] * n);
            bins++;
        }
        if (pooledExpected > 0) {
            double d = pooledCount - pooledExpected;
            chi += d * d / pooledExpected;
            bins++;
        }
        int dof = bins - 1;
        double bound = dof + 5 * Math.sqrt(2.0 * dof);
        assertTrue(chi < bound, "chi-square " + chi + " over " + dof + " degrees of freedom exceeds " + bound);
    }

    @Test
    void topPAndTopKAndMinPRestrictTheCandidates() {
        float[] l = new float[V];
        // The tail low enough that token 1 alone holds half the mass (at 0, its 997 tokens would
        // weigh 997 and token 1 only 0.495 of the whole).
        java.util.Arrays.fill(l, -5);
        l[1] = 10;
        l[2] = 9.5f;
        l[3] = 9;
        // top-p 0.5: only token 1 holds more than half the mass.
        SampleState p = state(SamplingParams.builder().topP(0.5).build(), 4);
        SampleState k = state(SamplingParams.builder().topK(2).build(), 5);
        SampleState m = state(SamplingParams.builder().minP(0.5).build(), 6);
        java.util.Set<Integer> seenK = new java.util.HashSet<>();
        for (int i = 0; i < 500; i++) {
            int tp = sampler.sample(l, 0, V, p).token();
            p.accept(tp);
            assertEquals(1, tp);
            int tk = sampler.sample(l, 0, V, k).token();
            k.accept(tk);
            seenK.add(tk);
            int tm = sampler.sample(l, 0, V, m).token();
            m.accept(tm);
            assertTrue(Set.of(1, 2).contains(tm), "min_p 0.5 keeps tokens within ln 2 of the best: 1 and 2");
        }
        assertEquals(Set.of(1, 2), seenK, "top_k 2 samples both of the two best");
    }

    /**
     * top_p alone takes its share of the whole mass, not of the candidates first looked at: 64
     * equal tokens hold 0.95 of it, so top_p 0.9 keeps 61 of them (a share of the 64's mass would
     * have kept 58).
     */
    @Test
    void topPIsAShareOfTheWholeMass() {
        float[] l = new float[V];
        for (int i = 0; i < V; i++) {
            l[i] = (float) (i < 64 ? Math.log(0.95 / 64) : Math.log(0.05 / (V - 64)));
        }
        SampleState s = state(SamplingParams.builder().topP(0.9).build(), 8);
        java.util.Set<Integer> seen = new java.util.TreeSet<>();
        for (int i = 0; i < 3000; i++) {
            int t = sampler.sample(l, 0, V, s).token();
            s.accept(t);
            seen.add(t);
        }
        assertEquals(61, seen.size(), seen.toString());
        assertEquals(60, (int) ((java.util.TreeSet<Integer>) seen).last());
    }

    @Test
    void logitBiasAndMinTokensAndPenalties() {
        float[] l = logits(7);
        int best = argmax(l);
        SamplingParams bias = SamplingParams.builder().temperature(0).logitBias(Map.of(123, 100f)).build();
        assertEquals(123, sampler.sample(l, 0, V, state(bias, 1)).token());

        float[] eosBest = logits(8);
        eosBest[2] = 100;
        SamplingParams minTokens = SamplingParams.builder().temperature(0).minTokens(1).maxTokens(5).build();
        SampleState s = state(minTokens, 1);
        assertNotEquals(2, sampler.sample(eosBest, 0, V, s).token(), "EOS is masked before min_tokens");
        s.accept(17);
        assertEquals(2, sampler.sample(eosBest, 0, V, s).token());

        SamplingParams frequency = SamplingParams.builder().temperature(0).frequencyPenalty(2).build();
        SampleState f = state(frequency, 1);
        float[] flat = new float[V];
        flat[best] = 1;
        assertEquals(best, sampler.sample(flat, 0, V, f).token());
        f.accept(best);
        assertNotEquals(best, sampler.sample(flat, 0, V, f).token(), "a penalised token loses to the rest");

        SamplingParams repetition = SamplingParams.builder().temperature(0).repetitionPenalty(1e6).build();
        float[] promptFavoured = new float[V];
        promptFavoured[5] = 1;
        promptFavoured[9] = 0.5f;
        assertEquals(9, sampler.sample(promptFavoured, 0, V, state(repetition, 1)).token(), "prompt token 5 is penalised");
    }

    @Test
    void logprobsAreTheRawDistribution() {
        float[] l = logits(9);
        SamplingParams p = SamplingParams.builder().temperature(0.5).logprobs(3).logitBias(Map.of(0, 5f)).build();
        Sample s = sampler.sample(l, 0, V, state(p, 1));
        double lse = 0;
        for (float v : l) {
            lse += Math.exp(v);
        }
        lse = Math.log(lse);
        assertEquals(l[s.token()] - lse, s.logprob(), 1e-4);
        List<TokenLogprob> top = s.top();
        assertEquals(3, top.size());
        assertEquals(argmax(l), top.get(0).token());
        assertTrue(top.get(0).logprob() >= top.get(1).logprob() && top.get(1).logprob() >= top.get(2).logprob());
    }

    @Test
    void invalidParametersNameTheParameter() {
        InvalidSamplingParameterException e = assertThrows(InvalidSamplingParameterException.class,
                () -> SamplingParams.builder().topP(0).build());
        assertEquals("top_p", e.parameter());
        assertEquals("max_tokens", assertThrows(InvalidSamplingParameterException.class,
                () -> SamplingParams.builder().maxTokens(0).build()).parameter());
    }
}
