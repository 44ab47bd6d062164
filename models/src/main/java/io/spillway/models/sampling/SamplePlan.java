package io.spillway.models.sampling;

import java.util.Arrays;
import java.util.BitSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Every parameter of a step's draws, packed into one int64 array for one upload: the sampler
 * script's {@code plan} (its sections are described there and sized by {@link #layout}). Float
 * parameters travel as their IEEE bits, so the script computes with exactly the values Java's
 * {@link Sampler} computes with: the same float32 bias and penalty amounts, the same float64
 * 1 / temperature, top_p and min_p.
 *
 * <p>Penalties, biases and masks are sparse: a flat index {@code draw * vocab + token} per edited
 * logit, a few hundred per draw at most. A grammar's mask is dense, the vocabulary's bits.
 *
 * @param data        the plan, {@code length} values used
 * @param layout      its sections' sizes
 * @param topCounts   per logprob draw, in draw order, how many top logprobs it asked for
 */
record SamplePlan(long[] data, int length, PlanLayout layout, int[] topCounts) {

    private static final int COLUMNS = 6;

    /**
     * Logits raced at once (4 rows of Qwen3's 151,936), in a {@link RaceScratch} of about 25 bytes
     * per logit. A batch-16 top_p step at that vocabulary picked in a median 21.5, 20.9, 22.5 and
     * 21.7 ms raced by 1, 2, 4 and 8 rows (SampledStepComparison, 20 rounds each): the same within
     * this machine's noise, so the small scratch of few rows.
     */
    static final int RACE_BLOCK = 640 * 1024;

    /**
     * @param draws the step's draws; each reads its logits row
     * @param rows  logits rows the step produced
     * @param vocab their length
     */
    static SamplePlan of(List<Draw> draws, int rows, int vocab) {
        int samples = draws.size();
        Run table = new Run(samples * COLUMNS);
        Run greedy = new Run(samples);
        Run raced = new Run(0);
        Run truncated = new Run(0);
        Run nucleus = new Run(0);
        Run logprobs = new Run(0);
        Run topCounts = new Run(0);
        Run biasAt = new Run(0);
        Run biasBy = new Run(0);
        Run maskAt = new Run(0);
        Run repetitionAt = new Run(0);
        Run repetitionBy = new Run(0);
        Run penaltyAt = new Run(0);
        Run penaltyBy = new Run(0);
        Run grammar = new Run(0);
        Run words = new Run(0);
        int first = 0;
        int largest = 0;
        boolean inPlace = samples == rows;
        int minP = 0;
        for (int s = 0; s < samples; s++) {
            Draw draw = draws.get(s);
            if (draw.row() >= rows) {
                throw new IllegalArgumentException("draw " + s + " reads logits row " + draw.row() + " of " + rows);
            }
            inPlace &= draw.row() == s;
            SampleState state = draw.state();
            SamplingParams p = state.params();
            int k = p.topK() > 0 ? Math.min(p.topK(), vocab) : vocab;
            table.add(draw.row());
            table.add(k);
            table.add(state.noiseKey());
            table.add(Double.doubleToRawLongBits(p.greedy() ? 1 : 1.0 / p.temperature()));
            table.add(Double.doubleToRawLongBits(p.topP()));
            table.add(Double.doubleToRawLongBits(p.minP()));
            minP += !p.greedy() && p.minP() > 0 ? 1 : 0;
            if (p.greedy()) {
                greedy.add(s);
            } else if (k == vocab && p.topP() < 1) {
                nucleus.add(s);
            } else if (k < vocab || p.topP() < 1) {
                truncated.add(s);
                first = Math.max(first, k);
                largest = Math.max(largest, k);
            } else {
                raced.add(s);
            }
            if (p.logprobs() != null) {
                logprobs.add(s);
                // As the reference does: a vocabulary smaller than the request has only so many alternatives.
                topCounts.add(Math.min(p.logprobs(), vocab));
            }
            long base = (long) s * vocab;
            for (Map.Entry<Integer, Float> bias : p.logitBias().entrySet()) {
                if (bias.getKey() >= 0 && bias.getKey() < vocab) {
                    biasAt.add(base + bias.getKey());
                    biasBy.add(Float.floatToRawIntBits(bias.getValue()));
                }
            }
            if (state.generated() < p.minTokens() && !state.mustEnd()) {
                Set<Integer> masked = new LinkedHashSet<>(p.stopTokenIds());
                if (!p.ignoreEos()) {
                    masked.addAll(state.endTokens());
                }
                for (int t : masked) {
                    if (t >= 0 && t < vocab) {
                        maskAt.add(base + t);
                    }
                }
            }
            if (p.repetitionPenalty() != 1) {
                // Each seen token once, in no particular order (the script scales each entry once).
                BitSet prompt = state.promptTokens();
                long r = Float.floatToRawIntBits((float) p.repetitionPenalty());
                for (int t = prompt.nextSetBit(0); t >= 0 && t < vocab; t = prompt.nextSetBit(t + 1)) {
                    repetitionAt.add(base + t);
                    repetitionBy.add(r);
                }
                for (int t : state.outputCounts().keySet()) {
                    if (t < vocab && !prompt.get(t)) {
                        repetitionAt.add(base + t);
                        repetitionBy.add(r);
                    }
                }
            }
            if (p.frequencyPenalty() != 0 || p.presencePenalty() != 0) {
                for (Map.Entry<Integer, Integer> e : state.outputCounts().entrySet()) {
                    if (e.getKey() < vocab) {
                        penaltyAt.add(base + e.getKey());
                        penaltyBy.add(Float.floatToRawIntBits((float) (e.getValue() * p.frequencyPenalty() + p.presencePenalty())));
                    }
                }
            }
            long[] allowed = state.allowedTokens(vocab);
            if (allowed != null) {
                grammar.add(s);
                words.addAll(allowed);
            }
        }
        int most = 0;
        for (int i = 0; i < topCounts.size; i++) {
            most = (int) Math.max(most, topCounts.values[i]);
        }
        Run topPositions = new Run(0);
        for (int i = 0; i < topCounts.size; i++) {
            for (int j = 0; j < topCounts.values[i]; j++) {
                topPositions.add((long) i * most + j);
            }
        }
        Run data = new Run(table.size + greedy.size + raced.size + truncated.size + nucleus.size + logprobs.size + topPositions.size
                + 2 * biasAt.size + maskAt.size + 2 * repetitionAt.size + 2 * penaltyAt.size + grammar.size + words.size);
        for (Run section : List.of(table, greedy, raced, truncated, nucleus, logprobs, topPositions, biasAt, biasBy, maskAt,
                repetitionAt, repetitionBy, penaltyAt, penaltyBy, grammar, words)) {
            data.addAll(Arrays.copyOf(section.values, section.size));
        }
        PlanLayout layout = new PlanLayout(samples, greedy.size, raced.size, truncated.size, nucleus.size, logprobs.size, topPositions.size, most,
                biasAt.size, maskAt.size, repetitionAt.size, penaltyAt.size, grammar.size, minP, Math.max(first, 1), Math.max(largest, 1),
                Sampler.NUCLEUS_TRIES, Sampler.GROUP, raceRows(vocab), inPlace ? 1 : 0);
        int[] counts = new int[topCounts.size];
        for (int i = 0; i < counts.length; i++) {
            counts[i] = (int) topCounts.values[i];
        }
        return new SamplePlan(data.values, data.size, layout, counts);
    }

    /** Rows of {@code vocab} logits the script races at once. */
    static int raceRows(int vocab) {
        return Math.max(1, RACE_BLOCK / vocab);
    }

    /** Bytes the script's outputs take: an id per draw, and per logprob draw its logprob and (id, logprob) per top token. */
    long resultBytes() {
        return 8L * layout.samples() + 4L * layout.logprobSamples() + 12L * layout.topLogprobs();
    }

    /** A growable run of longs. */
    private static final class Run {
        long[] values;
        int size;

        Run(int capacity) {
            values = new long[Math.max(capacity, 8)];
        }

        void add(long v) {
            if (size == values.length) {
                values = Arrays.copyOf(values, size * 2);
            }
            values[size++] = v;
        }

        void addAll(long[] vs) {
            if (size + vs.length > values.length) {
                values = Arrays.copyOf(values, Math.max(size * 2, size + vs.length));
            }
            System.arraycopy(vs, 0, values, size, vs.length);
            size += vs.length;
        }
    }
}
