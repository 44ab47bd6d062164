package io.spillway.models.sampling;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Picks one token from one row of logits, in the order vLLM applies its processors: logit bias,
 * min_tokens masking, repetition / frequency / presence penalties, temperature, min_p, top_k,
 * top_p, then a draw (or argmax when greedy).
 *
 * <p>The draw is an exponential race: token i gets an Exp(1) variable E_i from a hash of (seed,
 * position, i) and the token with the smallest E_i / w_i wins, which samples exactly in proportion
 * to the weights w_i. Unlike walking a cumulative sum, whose boundaries every rounding difference
 * shifts (libtorch does not compute a row bit-identically when the batch around it changes; on
 * stories260K, logprobs differ by up to 2e-5, which flipped about one seeded token in 400), the
 * race only changes its winner when the two best scores are that close: seeded output stays the
 * same whatever else is batched.
 *
 * <p>Over a whole vocabulary the race runs in two levels, so that a hash is drawn per group of
 * {@value #GROUP} ids and per token of one group rather than per token: the groups race by their
 * total weights W_g, then the winning group's tokens by theirs, which picks token i with chance
 * (W_g / W) (w_i / W_g) = w_i / W, from independent keys; on the device a hash per token of the
 * vocabulary would be most of a sampled step's cost. top_p alone draws so until a token lands in the nucleus (each
 * draw independent, so the accepted one follows the weights within it), at most
 * {@value #NUCLEUS_TRIES} times, then races the nucleus's candidates (one seeded scheme, not the
 * same tokens as a race over the nucleus alone would pick).
 *
 * <p>Rows are processed in plain Java: penalties and biases touch a handful of tokens. Scratch
 * buffers are reused across calls; one sampler per engine thread.
 */
public final class Sampler {

    /** Candidates a top_p draw without top_k looks at first; it grows the list fourfold until they hold their share. */
    static final int FIRST_CANDIDATES = 64;

    /** Consecutive ids a whole-vocabulary race groups (its first level races the groups). */
    static final int GROUP = 64;

    /**
     * Whole-vocabulary draws top_p alone takes before it races the nucleus's candidates: each is in
     * the nucleus with a chance of at least top_p, so 16 leave that to tiny nuclei among flat logits.
     */
    static final int NUCLEUS_TRIES = 16;

    /** Spreads the keys of a draw's levels and tries (the golden ratio's SplitMix64 increment). */
    private static final long GAMMA = 0x9E3779B97F4A7C15L;

    private float[] work = new float[0];
    private double[] weights = new double[0];
    private int[] order = new int[0];

    /**
     * @param logits row-major logits of a batch
     * @param offset where this row starts
     * @param vocab  row length
     */
    public Sample sample(float[] logits, int offset, int vocab, SampleState state) {
        SamplingParams p = state.params();
        ensureCapacity(vocab);
        float[] l = work;
        System.arraycopy(logits, offset, l, 0, vocab);

        // Log-probabilities are reported for the raw distribution, before any processing.
        Integer topN = p.logprobs();
        double rawLogSumExp = topN == null ? Double.NaN : logSumExp(l, vocab);

        for (Map.Entry<Integer, Float> bias : p.logitBias().entrySet()) {
            if (bias.getKey() >= 0 && bias.getKey() < vocab) {
                l[bias.getKey()] += bias.getValue();
            }
        }
        // A grammar that allows only the end wins over min_tokens: the document is complete.
        if (state.generated() < p.minTokens() && !state.mustEnd()) {
            for (int t : p.stopTokenIds()) {
                mask(l, t, vocab);
            }
            if (!p.ignoreEos()) {
                for (int t : state.endTokens()) {
                    mask(l, t, vocab);
                }
            }
        }
        if (p.repetitionPenalty() != 1) {
            float r = (float) p.repetitionPenalty();
            java.util.BitSet seen = (java.util.BitSet) state.promptTokens().clone();
            state.outputCounts().keySet().forEach(seen::set);
            for (int t = seen.nextSetBit(0); t >= 0 && t < vocab; t = seen.nextSetBit(t + 1)) {
                l[t] = l[t] > 0 ? l[t] / r : l[t] * r;
            }
        }
        if (p.frequencyPenalty() != 0 || p.presencePenalty() != 0) {
            for (Map.Entry<Integer, Integer> e : state.outputCounts().entrySet()) {
                int t = e.getKey();
                if (t < vocab) {
                    l[t] -= (float) (e.getValue() * p.frequencyPenalty() + p.presencePenalty());
                }
            }
        }

        long[] allowed = state.allowedTokens(vocab);
        if (allowed != null) {
            for (int t = 0; t < vocab; t++) {
                if ((allowed[t >>> 6] & (1L << t)) == 0) {
                    l[t] = Float.NEGATIVE_INFINITY;
                }
            }
        }

        int token = p.greedy() ? argmax(l, vocab) : draw(l, vocab, p, state);

        if (topN == null) {
            return new Sample(token, Float.NaN, List.of());
        }
        float chosen = (float) (logits[offset + token] - rawLogSumExp);
        List<TokenLogprob> top = new ArrayList<>(topN);
        if (topN > 0) {
            System.arraycopy(logits, offset, l, 0, vocab);
            int m = selectTop(l, vocab, topN);
            for (int i = 0; i < m; i++) {
                top.add(new TokenLogprob(order[i], (float) (l[order[i]] - rawLogSumExp)));
            }
        }
        return new Sample(token, chosen, top);
    }

    private static void mask(float[] l, int token, int vocab) {
        if (token >= 0 && token < vocab) {
            l[token] = Float.NEGATIVE_INFINITY;
        }
    }

    private int draw(float[] l, int vocab, SamplingParams p, SampleState state) {
        double invT = 1.0 / p.temperature();
        float max = l[argmax(l, vocab)];
        double[] w = weights;
        for (int i = 0; i < vocab; i++) {
            w[i] = Math.exp((l[i] - max) * invT);
        }
        // min_p: keep tokens whose probability is at least min_p times the top one's (which is 1 here).
        if (p.minP() > 0) {
            for (int i = 0; i < vocab; i++) {
                if (w[i] < p.minP()) {
                    w[i] = 0;
                }
            }
        }
        long key = state.noiseKey();
        // A top_k of the whole vocabulary or more keeps every token: no top_k, as in vLLM.
        int k = p.topK() > 0 ? Math.min(p.topK(), vocab) : vocab;
        boolean truncate = k < vocab || p.topP() < 1;
        if (!truncate) {
            return Math.max(race(w, groupTotals(w, vocab), vocab, key, 0), 0);
        }
        double total = sum(w, vocab);
        if (k == vocab) {
            double[] totals = groupTotals(w, vocab);
            for (int attempt = 0; attempt < NUCLEUS_TRIES; attempt++) {
                int token = race(w, totals, vocab, key, attempt);
                if (token >= 0 && massAhead(l, w, vocab, token) < p.topP() * total) {
                    return token;
                }
            }
        }
        // Candidates best first: the top k, of whose mass top_p takes its share (vLLM renormalizes
        // after top_k); or, for top_p alone, as many as it takes to hold its share of the whole mass.
        int m = k < vocab || p.topP() >= 1 ? k : Math.min(k, FIRST_CANDIDATES);
        int count;
        double kept;
        while (true) {
            count = selectTop(l, vocab, m);
            double mass = 0;
            for (int i = 0; i < count; i++) {
                mass += w[order[i]];
            }
            if (p.topP() >= 1 || m >= k || mass >= p.topP() * total) {
                kept = k < vocab ? mass : total;
                break;
            }
            m = Math.min(k, m * 4);
        }
        if (p.topP() < 1) {
            // Among the top k (renormalized), the smallest prefix whose mass reaches top_p.
            double cumulative = 0;
            for (int i = 0; i < count; i++) {
                cumulative += w[order[i]];
                if (cumulative >= p.topP() * kept) {
                    count = i + 1;
                    break;
                }
            }
        }
        int best = -1;
        double bestScore = Double.POSITIVE_INFINITY;
        for (int c = 0; c < count; c++) {
            int i = order[c];
            if (w[i] > 0) {
                double score = exponential(key, i) / w[i];
                if (score < bestScore) {
                    bestScore = score;
                    best = i;
                }
            }
        }
        return best >= 0 ? best : order[0];
    }

    /** The total weight of each group of {@value #GROUP} consecutive ids, each summed in id order. */
    static double[] groupTotals(double[] w, int vocab) {
        double[] totals = new double[Math.ceilDiv(vocab, GROUP)];
        for (int i = 0; i < vocab; i++) {
            totals[i / GROUP] += w[i];
        }
        return totals;
    }

    /**
     * The two-level race over the whole vocabulary, its {@code attempt}th draw: the group of the
     * largest ln(u_g) / W_g ({@code totals}, from {@link #groupTotals}), then its token of the
     * largest ln(u_i) / w_i (the lower index among equals, at both levels); -1 when no score is
     * finite (no weight is positive, or all are NaN).
     */
    static int race(double[] w, double[] totals, int vocab, long key, int attempt) {
        long groupKey = mix(key ^ ((2L * attempt + 1) * GAMMA));
        long tokenKey = mix(key ^ ((2L * attempt + 2) * GAMMA));
        int bestGroup = -1;
        double bestScore = Double.NEGATIVE_INFINITY;
        for (int g = 0; g < totals.length; g++) {
            if (totals[g] > 0) {
                double score = Math.log(uniform(groupKey, g)) / totals[g];
                if (score > bestScore) {
                    bestScore = score;
                    bestGroup = g;
                }
            }
        }
        if (bestGroup < 0) {
            return -1;
        }
        int best = -1;
        bestScore = Double.NEGATIVE_INFINITY;
        for (int i = bestGroup * GROUP; i < Math.min(vocab, (bestGroup + 1) * GROUP); i++) {
            if (w[i] > 0) {
                double score = Math.log(uniform(tokenKey, i)) / w[i];
                if (score > bestScore) {
                    bestScore = score;
                    best = i;
                }
            }
        }
        return best;
    }

    /** The weight ahead of {@code token} in top_p's order: larger logits first, the lower id among equals. */
    private static double massAhead(float[] l, double[] w, int vocab, int token) {
        double ahead = 0;
        float logit = l[token];
        for (int i = 0; i < vocab; i++) {
            if (l[i] > logit || (l[i] == logit && i < token)) {
                ahead += w[i];
            }
        }
        return ahead;
    }

    private static double exponential(long key, int token) {
        return -Math.log(uniform(key, token));
    }

    /**
     * A uniform number in (0, 1) that depends only on the key and the id: 52 bits and a half, so
     * that the largest, 1 - 2^-53, is still below 1 (53 bits and a half would round it up to 1, and
     * a weight-0 token's ln(1) / 0 would be NaN instead of -inf).
     */
    static double uniform(long key, int id) {
        long h = mix(key ^ (id * 0xD1B54A32D192ED03L));
        return ((h >>> 12) + 0.5) * 0x1.0p-52;
    }

    /** SplitMix64's finalizer: a bijective 64-bit mix with full avalanche. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private static double sum(double[] w, int vocab) {
        double s = 0;
        for (int i = 0; i < vocab; i++) {
            s += w[i];
        }
        return s;
    }

    static int argmax(float[] l, int vocab) {
        int best = 0;
        for (int i = 1; i < vocab; i++) {
            if (l[i] > l[best]) {
                best = i;
            }
        }
        return best;
    }

    private static double logSumExp(float[] l, int vocab) {
        float max = l[argmax(l, vocab)];
        double s = 0;
        for (int i = 0; i < vocab; i++) {
            s += Math.exp(l[i] - max);
        }
        return max + Math.log(s);
    }

    /**
     * Puts the indices of the {@code m} largest values of {@code l} into {@code order[0..m)}, largest
     * first (ties by lower index), and returns m. Quickselect then a sort of the winners: O(vocab).
     */
    int selectTop(float[] l, int vocab, int m) {
        m = Math.min(m, vocab);
        int[] idx = order;
        for (int i = 0; i < vocab; i++) {
            idx[i] = i;
        }
        int lo = 0;
        int hi = vocab - 1;
        while (lo < hi) {
            int pivot = idx[(lo + hi) >>> 1];
            int i = lo;
            int j = hi;
            while (i <= j) {
                while (before(l, idx[i], pivot)) {
                    i++;
                }
                while (before(l, pivot, idx[j])) {
                    j--;
                }
                if (i <= j) {
                    int t = idx[i];
                    idx[i] = idx[j];
                    idx[j] = t;
                    i++;
                    j--;
                }
            }
            if (m - 1 <= j) {
                hi = j;
            } else if (m - 1 >= i) {
                lo = i;
            } else {
                break;
            }
        }
        Integer[] best = new Integer[m];
        for (int i = 0; i < m; i++) {
            best[i] = idx[i];
        }
        Arrays.sort(best, (a, b) -> before(l, a, b) ? -1 : before(l, b, a) ? 1 : 0);
        for (int i = 0; i < m; i++) {
            idx[i] = best[i];
        }
        return m;
    }

    /** Strict order: larger value first, then lower index. */
    private static boolean before(float[] l, int a, int b) {
        return l[a] > l[b] || (l[a] == l[b] && a < b);
    }

    private void ensureCapacity(int vocab) {
        if (work.length < vocab) {
            work = new float[vocab];
            weights = new double[vocab];
            order = new int[vocab];
        }
    }
}
