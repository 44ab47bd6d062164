package io.spillway.models.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.spillway.models.grammar.CompiledGrammar;
import io.spillway.models.grammar.Grammar;
import io.spillway.models.grammar.Vocabulary;
import io.spillway.models.runtime.HostCopies;
import io.spillway.models.runtime.TorchRuntime;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The device sampler against Java's {@link Sampler}, the reference: the same tokens for the same
 * logits, seeds and parameters, over many random draws of every kind, in batches; and what crosses
 * back to the host, counted where it is copied.
 */
class DeviceSamplerTest {

    private static final Set<Integer> END = Set.of(2, 7);
    /** 256 byte tokens and an end token, in rows wider than the vocabulary (as models' are). */
    private static final int GRAMMAR_VOCAB = 300;
    private static final int GRAMMAR_EOS = 256;

    private static NDManager manager;
    private static HostCopies copies;
    private static DeviceSampler device;
    private static CompiledGrammar grammar;

    @BeforeAll
    static void compile() {
        TorchRuntime.engine();
        manager = NDManager.newBaseManager(Device.cpu());
        copies = new HostCopies();
        device = new DeviceSampler(manager, Device.cpu(), copies);
        List<byte[]> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            tokens.add(new byte[] {(byte) b});
        }
        tokens.add("</s>".getBytes(StandardCharsets.UTF_8));
        Vocabulary bytes = Vocabulary.of(tokens, Set.of(GRAMMAR_EOS), GRAMMAR_VOCAB, Set.of(GRAMMAR_EOS));
        grammar = CompiledGrammar.compile(Grammar.oneOf(Grammar.literal("yes"), Grammar.literal("no"), Grammar.literal("maybe so")), bytes);
    }

    @AfterAll
    static void close() {
        device.close();
        manager.close();
    }

    @Test
    void sameTokensAsTheJavaSamplerOverManyRandomDraws() {
        Random random = new Random(20261130);
        int draws = 0;
        int sampled = 0;
        for (int trial = 0; trial < 120; trial++) {
            boolean grammarTrial = trial % 4 == 3;
            int vocab = grammarTrial ? GRAMMAR_VOCAB : trial % 2 == 0 ? 4099 : 1024;
            int rows = 1 + random.nextInt(16);
            float[] logits = logits(random, rows, vocab, trial % 3 == 0);
            List<Draw> batch = new ArrayList<>();
            for (int r = 0; r < rows; r++) {
                // Now and then two draws from one row, as the samples of an n > 1 request fork.
                int fromRow = random.nextInt(6) == 0 && r > 0 ? random.nextInt(r) : r;
                batch.add(new Draw(fromRow, randomState(random, vocab, grammarTrial)));
            }
            List<Sample> got = sampleOnDevice(logits, rows, vocab, batch);
            Sampler reference = new Sampler();
            for (int i = 0; i < batch.size(); i++) {
                Draw d = batch.get(i);
                Sample want = reference.sample(logits, d.row() * vocab, vocab, d.state());
                String where = "trial " + trial + ", draw " + i + ", " + d.state().params();
                assertSame(want, got.get(i), where);
                draws++;
                sampled += d.state().params().greedy() ? 0 : 1;
            }
        }
        assertTrue(draws > 800 && sampled > 500, draws + " draws, " + sampled + " sampled");
    }

    /**
     * A token of weight 0 never wins, even with the largest uniform the hash gives, 1 - 2^-53 (were
     * it 1, ln(1) / 0 would be NaN, which max picks): the seed is chosen (mix is a bijection) so
     * that token 5, whose logit underflows its weight to exactly 0, draws it in the first draw's
     * token race, at a vocabulary of one group, so that its group is the one raced; the same row is
     * raced whole and with top_p. Rows whose every logit a min_tokens mask made -inf (weights NaN)
     * give token 0, as in Java.
     */
    @Test
    void aTokenOfWeightZeroNeverWinsEvenWhenItsUniformIsOne() {
        int vocab = Sampler.GROUP;
        int token = 5;
        long tokenKey = unmix(-1L) ^ (token * 0xD1B54A32D192ED03L);
        long seed = unmix(unmix(tokenKey) ^ (2 * 0x9E3779B97F4A7C15L));
        assertEquals(1 - 0x1.0p-53, Sampler.uniform(Sampler.mix(Sampler.mix(seed) ^ (2 * 0x9E3779B97F4A7C15L)), token),
                "the seed draws the largest uniform for token 5");
        Random random = new Random(5);
        float[] logits = logits(random, 4, vocab, false);
        logits[token] = -1000f;
        logits[vocab + token] = -1000f;
        List<Draw> batch = new ArrayList<>();
        batch.add(new Draw(0, new SampleState(SamplingParams.builder().temperature(1).maxTokens(10).build(), seed, END, new int[0])));
        batch.add(new Draw(1, new SampleState(SamplingParams.builder().temperature(1).topP(0.9).maxTokens(10).build(), seed, END,
                new int[0])));
        Set<Integer> everyToken = new HashSet<>();
        for (int t = 0; t < vocab; t++) {
            everyToken.add(t);
        }
        for (int r = 2; r < 4; r++) {
            SamplingParams.Builder p = SamplingParams.builder().temperature(0.7).maxTokens(10).minTokens(5).stopTokenIds(everyToken);
            if (r == 3) {
                p.topP(0.8);
            }
            batch.add(new Draw(r, new SampleState(p.build(), random.nextLong(), END, new int[0])));
        }
        List<Sample> got = sampleOnDevice(logits, 4, vocab, batch);
        Sampler reference = new Sampler();
        for (int r = 0; r < 4; r++) {
            Sample want = reference.sample(logits, r * vocab, vocab, batch.get(r).state());
            if (r < 2) {
                assertTrue(want.token() != token, "Java skips the token of weight 0");
            } else {
                assertEquals(0, want.token(), "Java's token for a row of weights NaN");
            }
            assertSame(want, got.get(r), "row " + r);
        }
    }

    /**
     * A nucleus row whose first draws are outside its nucleus settles on a later one without
     * race_truncated's fallback (its topk and cumsum, and on a GPU a sync per growth); also when
     * rows before it in the block settled earlier, so that a row's place among the open rows is not
     * its row. On flat logits with top_p 0.5 the nucleus is exactly the lower half of the ids, so
     * the seeds are chosen to put the first 0, 1 and 3 draws outside it.
     */
    @Test
    void nucleusRowsSettleOnLaterTriesWithoutTheFallback() {
        int vocab = 4096;
        int[] outside = {0, 1, 3};
        List<Draw> batch = new ArrayList<>();
        long seed = 0;
        for (int r = 0; r < outside.length; r++) {
            do {
                seed++;
            } while (drawsOutsideLowerHalf(Sampler.mix(seed), vocab) != outside[r]);
            batch.add(new Draw(r, new SampleState(SamplingParams.builder().temperature(1).topP(0.5).maxTokens(10).build(), seed,
                    END, new int[0])));
        }
        float[] logits = new float[outside.length * vocab];
        sampleOnDevice(logits, outside.length, vocab, batch);
        List<Sample> got = new ArrayList<>();
        int cumsums = 0;
        try {
            Path trace = Files.createTempFile("spillway-sampler", ".json");
            try {
                JniUtils.startProfile(false, false, false);
                try {
                    got.addAll(sampleOnDevice(logits, outside.length, vocab, batch));
                } finally {
                    JniUtils.stopProfile(trace.toString());
                }
                JsonNode root = new ObjectMapper().readTree(trace.toFile());
                for (JsonNode e : root.isArray() ? root : root.path("traceEvents")) {
                    cumsums += e.path("name").asText().equals("aten::cumsum") ? 1 : 0;
                }
            } finally {
                Files.deleteIfExists(trace);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Sampler reference = new Sampler();
        for (int r = 0; r < outside.length; r++) {
            Sample want = reference.sample(logits, r * vocab, vocab, batch.get(r).state());
            assertTrue(want.token() < vocab / 2, "row " + r + ": Java's token is in the nucleus");
            assertSame(want, got.get(r), "row " + r);
        }
        assertEquals(0, cumsums, "race_truncated's cumsum ran: a row went to the fallback");
    }

    /** How many of Java's whole-vocabulary draws on a flat row come before the first id below vocab / 2 (at most the tries). */
    private static int drawsOutsideLowerHalf(long key, int vocab) {
        double[] w = new double[vocab];
        Arrays.fill(w, 1);
        int n = 0;
        double[] totals = Sampler.groupTotals(w, vocab);
        while (n < Sampler.NUCLEUS_TRIES && Sampler.race(w, totals, vocab, key, n) >= vocab / 2) {
            n++;
        }
        return n;
    }

    /**
     * The nucleus rule at its exact edge, on the draws (not the fallback): on flat logits of 4,096
     * tokens top_p 0.5 puts the threshold at 2,048 and the mass before token t is t (ties to the
     * lower id), so a first draw of 2,047 is kept and one of 2,048 is out and drawn again.
     */
    @Test
    void aDrawWhoseMassBeforeItReachesTopPIsDrawnAgain() {
        int vocab = 4096;
        double[] w = new double[vocab];
        Arrays.fill(w, 1);
        double[] totals = Sampler.groupTotals(w, vocab);
        int[] firstDraw = {2047, 2048};
        List<Draw> batch = new ArrayList<>();
        for (int r = 0; r < firstDraw.length; r++) {
            long seed = 0;
            while (Sampler.race(w, totals, vocab, Sampler.mix(seed), 0) != firstDraw[r]) {
                seed++;
            }
            batch.add(new Draw(r, new SampleState(SamplingParams.builder().temperature(1).topP(0.5).maxTokens(10).build(), seed, END,
                    new int[0])));
        }
        float[] logits = new float[firstDraw.length * vocab];
        Sampler reference = new Sampler();
        Sample in = reference.sample(logits, 0, vocab, batch.get(0).state());
        Sample out = reference.sample(logits, vocab, vocab, batch.get(1).state());
        assertEquals(2047, in.token(), "a first draw with 2,047 before it is kept");
        assertTrue(out.token() < 2048, "a first draw with 2,048 before it is out, drawn again: got " + out.token());
        List<Sample> got = sampleOnDevice(logits, firstDraw.length, vocab, batch);
        assertSame(in, got.get(0), "row 0");
        assertSame(out, got.get(1), "row 1");
    }

    /** A top_k of the vocabulary or more is no top_k, as in vLLM: the same tokens as without one, on the device and in Java. */
    @Test
    void topKOfTheWholeVocabularyIsNoTopK() {
        int vocab = 1024;
        int rows = 16;
        Random random = new Random(7);
        float[] logits = logits(random, rows, vocab, false);
        List<Draw> batch = new ArrayList<>();
        Sampler reference = new Sampler();
        List<Sample> without = new ArrayList<>();
        for (int r = 0; r < rows; r++) {
            SamplingParams.Builder p = SamplingParams.builder().temperature(1).maxTokens(10);
            if (r % 2 == 0) {
                p.topP(0.8);
            }
            without.add(reference.sample(logits, r * vocab, vocab, new SampleState(p.build(), 100 + r, END, new int[0])));
            batch.add(new Draw(r, new SampleState(p.topK(vocab + r / 2).build(), 100 + r, END, new int[0])));
        }
        List<Sample> got = sampleOnDevice(logits, rows, vocab, batch);
        for (int r = 0; r < rows; r++) {
            Sample want = reference.sample(logits, r * vocab, vocab, batch.get(r).state());
            assertSame(without.get(r), want, "row " + r + ": Java with top_k " + (vocab + r / 2) + " and without");
            assertSame(want, got.get(r), "row " + r);
        }
    }

    /**
     * A nucleus draw's tries are independent draws: over a flat vocabulary of 4,096, the 16 tries
     * of one key are distinct but for chance coincidences, and two tries agree about once in 4,096
     * keys (tries that repeated the first would leave every miss to the fallback).
     */
    @Test
    void theTriesOfANucleusDrawAreIndependent() {
        int vocab = 4096;
        double[] w = new double[vocab];
        Arrays.fill(w, 1);
        double[] totals = Sampler.groupTotals(w, vocab);
        int agreements = 0;
        int keys = 4000;
        for (long seed = 0; seed < keys; seed++) {
            long key = Sampler.mix(seed);
            int first = Sampler.race(w, totals, vocab, key, 0);
            int second = Sampler.race(w, totals, vocab, key, 1);
            agreements += first == second ? 1 : 0;
        }
        assertTrue(agreements <= 6, agreements + " of " + keys + " keys drew the same token on their first two tries");
        Set<Integer> tries = new HashSet<>();
        for (int attempt = 0; attempt < Sampler.NUCLEUS_TRIES; attempt++) {
            tries.add(Sampler.race(w, totals, vocab, Sampler.mix(99), attempt));
        }
        assertTrue(tries.size() >= Sampler.NUCLEUS_TRIES - 1, "16 tries drew only " + tries.size() + " distinct tokens");
    }

    /** SplitMix64's finalizer undone: each xor-shift undone by iterating it, each product by the inverse multiplier. */
    private static long unmix(long h) {
        long z = unshift(h, 31) * inverse(0x94D049BB133111EBL);
        z = unshift(z, 27) * inverse(0xBF58476D1CE4E5B9L);
        return unshift(z, 30);
    }

    private static long unshift(long y, int s) {
        long x = y;
        for (int i = 0; i < 64 / s + 1; i++) {
            x = y ^ (x >>> s);
        }
        return x;
    }

    private static long inverse(long odd) {
        long x = odd;
        for (int i = 0; i < 6; i++) {
            x *= 2 - odd * x;
        }
        return x;
    }

    /** Long top_p nuclei (flat logits) make the candidate list grow several times: still Java's tokens. */
    @Test
    void growingTopPCandidatesGiveJavasTokens() {
        Random random = new Random(5);
        int vocab = 20000;
        int rows = 6;
        float[] logits = new float[rows * vocab];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) (random.nextGaussian() * 0.7);
        }
        for (int step = 0; step < 10; step++) {
            List<Draw> batch = new ArrayList<>();
            for (int r = 0; r < rows; r++) {
                SamplingParams p = SamplingParams.builder().temperature(0.6 + 0.2 * r).topP(0.5 + 0.09 * r)
                        .topK(r == 5 ? 3000 : -1).maxTokens(100).build();
                SampleState s = new SampleState(p, 1000L * step + r, END, new int[0]);
                for (int g = 0; g < step; g++) {
                    s.accept(random.nextInt(vocab));
                }
                batch.add(new Draw(r, s));
            }
            List<Sample> got = sampleOnDevice(logits, rows, vocab, batch);
            Sampler reference = new Sampler();
            for (int i = 0; i < rows; i++) {
                assertSame(reference.sample(logits, i * vocab, vocab, batch.get(i).state()), got.get(i), "step " + step + " row " + i);
            }
        }
    }

    /**
     * top_p without top_k draws from the whole vocabulary and checks each draw against the
     * nucleus. Flat rows (most of the vocabulary in the nucleus, a draw often outside it); a
     * nucleus of one token among 4,096 equal ones, which none of the 16 draws is in, so the row
     * falls back to the growing list; and ties across the cut, where Java's order
     * (lower id first) and its rule (keep the token whose mass crosses top_p, not the next) decide
     * which of equal tokens are in: with weights 1 and 0 the masses are whole numbers, exact in any
     * summation order, and top_p 0.25 of 2,000 puts the cut exactly after the 500th.
     */
    @Test
    void nucleusRacesGiveJavasTokensOnFlatRowsTinyNucleiAndTiesAtTheCut() {
        Random random = new Random(17);
        int vocab = 4096;
        int rows = 16;
        int outsideNucleus = 0;
        for (int trial = 0; trial < 12; trial++) {
            float[] logits = new float[rows * vocab];
            int kind = trial % 3;
            for (int r = 0; r < rows; r++) {
                for (int i = 0; i < vocab; i++) {
                    logits[r * vocab + i] = switch (kind) {
                        case 0 -> (float) (random.nextGaussian() * 0.3);
                        case 1 -> 0f;
                        // 2,000 equal tokens at random ids; the rest weigh exactly 0 (exp(-1000 / T) underflows).
                        default -> -1000f;
                    };
                }
                if (kind == 2) {
                    for (int placed = 0; placed < 2000; ) {
                        int i = r * vocab + random.nextInt(vocab);
                        if (logits[i] != 0f) {
                            logits[i] = 0f;
                            placed++;
                        }
                    }
                }
            }
            List<Draw> batch = new ArrayList<>();
            List<SampleState> unrestricted = new ArrayList<>();
            for (int r = 0; r < rows; r++) {
                double topP = switch (kind) {
                    case 0 -> List.of(0.3, 0.5, 0.9, 0.99, 0.001).get(r % 5);
                    case 1 -> 1.0 / vocab;
                    default -> 0.25;
                };
                SamplingParams.Builder p = SamplingParams.builder().temperature(0.5 + random.nextDouble()).topP(topP).maxTokens(100);
                if (kind == 0 && r % 4 == 3) {
                    p.minP(0.5).presencePenalty(1).repetitionPenalty(1.3);
                }
                SamplingParams params = p.build();
                long seed = random.nextLong();
                int[] prompt = random.ints(20, 0, vocab).toArray();
                SampleState s = new SampleState(params, seed, END, prompt);
                // The same draw without top_p: where its token differs, the nucleus check decided.
                SampleState whole = new SampleState(SamplingParams.builder().temperature(params.temperature()).minP(params.minP())
                        .presencePenalty(params.presencePenalty()).repetitionPenalty(params.repetitionPenalty()).maxTokens(100).build(),
                        seed, END, prompt);
                for (int g = random.nextInt(5); g > 0; g--) {
                    int t = random.nextInt(vocab);
                    s.accept(t);
                    whole.accept(t);
                }
                batch.add(new Draw(r, s));
                unrestricted.add(whole);
            }
            List<Sample> got = sampleOnDevice(logits, rows, vocab, batch);
            Sampler reference = new Sampler();
            for (int r = 0; r < rows; r++) {
                SampleState state = batch.get(r).state();
                int want = reference.sample(logits, r * vocab, vocab, state).token();
                assertEquals(want, got.get(r).token(), "trial " + trial + " row " + r + ", " + state.params());
                if (kind == 1) {
                    assertEquals(0, want, "a nucleus of one among equal tokens is the lowest id");
                }
                if (kind == 2) {
                    // The 500th of the row's equal tokens is the last in the nucleus.
                    int rank = 0;
                    for (int i = 0; i < want; i++) {
                        rank += logits[r * vocab + i] == 0f ? 1 : 0;
                    }
                    assertTrue(logits[r * vocab + want] == 0f && rank < 500, "trial " + trial + " row " + r + ": rank " + rank);
                }
                outsideNucleus += reference.sample(logits, r * vocab, vocab, unrestricted.get(r)).token() != want ? 1 : 0;
            }
        }
        assertTrue(outsideNucleus > 40, outsideNucleus + " rows whose first whole-vocabulary draw was outside the nucleus");
    }

    /**
     * At Qwen3's vocabulary the races go four rows at a time through one set of scratch tensors:
     * every block, and a last short one, gives Java's tokens, on distinct logits and on tied ones.
     */
    @Test
    void racesInBlocksOfRowsGiveJavasTokensAtAFullVocabulary() {
        Random random = new Random(23);
        int vocab = 151936;
        int rows = 14;
        assertTrue(Math.max(1, SamplePlan.RACE_BLOCK / vocab) < 7, "more than two blocks of either kind");
        for (boolean ties : new boolean[] {false, true}) {
            float[] logits = logits(random, rows, vocab, ties);
            List<Draw> batch = new ArrayList<>();
            for (int r = 0; r < rows; r++) {
                SamplingParams.Builder p = SamplingParams.builder().temperature(0.6 + 0.1 * r).presencePenalty(0.5).repetitionPenalty(1.1);
                if (r % 2 == 1) {
                    p.topP(0.3 + 0.05 * r);
                }
                batch.add(new Draw(r, new SampleState(p.build(), random.nextLong(), END, random.ints(64, 0, vocab).toArray())));
            }
            List<Sample> got = sampleOnDevice(logits, rows, vocab, batch);
            Sampler reference = new Sampler();
            for (int r = 0; r < rows; r++) {
                assertSame(reference.sample(logits, r * vocab, vocab, batch.get(r).state()), got.get(r), "ties " + ties + ", row " + r);
            }
        }
    }

    /** A seeded draw gives the same token alone and in a batch of 16 beside other requests, and in any row. */
    @Test
    void aSeededDrawIsTheSameAloneAndInABatchOfSixteen() {
        Random random = new Random(11);
        int vocab = 4099;
        for (int trial = 0; trial < 30; trial++) {
            float[] row = logits(random, 1, vocab, false);
            SampleState mine = randomState(random, vocab, false);
            long alone = sampleOnDevice(row, 1, vocab, List.of(new Draw(0, mine))).getFirst().token();
            float[] batchLogits = logits(random, 16, vocab, false);
            int at = random.nextInt(16);
            System.arraycopy(row, 0, batchLogits, at * vocab, vocab);
            List<Draw> batch = new ArrayList<>();
            for (int r = 0; r < 16; r++) {
                batch.add(new Draw(r, r == at ? mine : randomState(random, vocab, false)));
            }
            assertEquals(alone, sampleOnDevice(batchLogits, 16, vocab, batch).get(at).token(), "trial " + trial + ", " + mine.params());
        }
    }

    /** Only a token id per draw and the log-probabilities asked for come back: 8 bytes, plus 4 + 12 per top logprob. */
    @Test
    void bytesBackToTheHostAreTheIdsAndTheRequestedLogprobs() {
        Random random = new Random(3);
        int vocab = 151936;
        int rows = 16;
        float[] logits = logits(random, rows, vocab, false);
        List<Draw> batch = new ArrayList<>();
        long expected = 0;
        for (int r = 0; r < rows; r++) {
            Integer logprobs = r % 4 == 0 ? null : r % 4 == 1 ? Integer.valueOf(0) : Integer.valueOf(r % 7 + 1);
            SamplingParams p = SamplingParams.builder().temperature(r % 2 == 0 ? 0 : 0.8).topP(0.9).repetitionPenalty(1.1)
                    .frequencyPenalty(0.5).presencePenalty(0.5).logprobs(logprobs).build();
            batch.add(new Draw(r, new SampleState(p, r, END, random.ints(64, 0, vocab).toArray())));
            expected += 8 + (logprobs == null ? 0 : 4 + 12L * logprobs);
        }
        long before = copies.bytes();
        List<Sample> got = sampleOnDevice(logits, rows, vocab, batch);
        assertEquals(expected, copies.bytes() - before, "device-to-host bytes of one step");
        assertEquals(rows, got.size());
        before = copies.bytes();
        List<Draw> greedy = new ArrayList<>();
        for (int r = 0; r < rows; r++) {
            greedy.add(new Draw(r, new SampleState(SamplingParams.builder().temperature(0).build(), r, END, new int[0])));
        }
        sampleOnDevice(logits, rows, vocab, greedy);
        assertEquals(8L * rows, copies.bytes() - before, "greedy rows bring back their ids only");
    }

    /** A vocabulary smaller than the logprobs asked for: every token is an alternative, as in the reference. */
    @Test
    void moreLogprobsThanTheVocabularyHasGiveEveryToken() {
        Random random = new Random(17);
        int vocab = 9;
        float[] logits = logits(random, 2, vocab, false);
        List<Draw> batch = List.of(
                new Draw(0, new SampleState(SamplingParams.builder().temperature(0).logprobs(20).build(), 1, END, new int[0])),
                new Draw(1, new SampleState(SamplingParams.builder().temperature(0.7).topP(0.8).logprobs(12).build(), 2, END, new int[0])));
        List<Sample> got = sampleOnDevice(logits, 2, vocab, batch);
        Sampler reference = new Sampler();
        for (int i = 0; i < 2; i++) {
            Sample want = reference.sample(logits, i * vocab, vocab, batch.get(i).state());
            assertEquals(vocab, want.top().size());
            assertSame(want, got.get(i), "row " + i);
        }
    }

    /**
     * A row with NaN or an infinity is reported (token NOT_FINITE), not drawn from, whatever the
     * sampling; its neighbours are drawn as usual, and the -inf that a logit bias or a stop-token
     * mask writes on purpose is not mistaken for one.
     */
    @Test
    void aRowWithNanOrInfinityIsReportedNotSampled() {
        Random random = new Random(11);
        int vocab = 500;
        int rows = 6;
        float[] logits = logits(random, rows, vocab, false);
        logits[1 * vocab + 17] = Float.NaN;
        logits[3 * vocab + 400] = Float.POSITIVE_INFINITY;
        logits[4 * vocab + 3] = Float.NEGATIVE_INFINITY;
        List<Draw> batch = new ArrayList<>();
        for (int r = 0; r < rows; r++) {
            SamplingParams.Builder p = SamplingParams.builder().maxTokens(100).logitBias(Map.of(5, -100f));
            if (r % 2 == 0) {
                p.temperature(0.8).topP(0.9);
            } else {
                p.temperature(0);
            }
            if (r == 1 || r == 2) {
                // Row 1 is not finite and asks for logprobs: no index of -1 may reach a gather.
                p.logprobs(3);
            }
            batch.add(new Draw(r, new SampleState(p.build(), r, END, new int[0])));
        }
        List<Sample> got = sampleOnDevice(logits, rows, vocab, batch);
        Sampler reference = new Sampler();
        for (int r = 0; r < rows; r++) {
            if (r == 1 || r == 3 || r == 4) {
                assertEquals(Sample.NOT_FINITE, got.get(r).token(), "row " + r);
                assertFalse(got.get(r).finite());
            } else {
                assertSame(reference.sample(logits, r * vocab, vocab, batch.get(r).state()), got.get(r), "row " + r);
                assertTrue(got.get(r).finite());
            }
        }
    }

    private static List<Sample> sampleOnDevice(float[] logits, int rows, int vocab, List<Draw> draws) {
        try (NDManager step = manager.newSubManager()) {
            NDArray l = step.create(logits, new Shape(rows, vocab));
            return device.sample(l, draws, step);
        }
    }

    private static void assertSame(Sample want, Sample got, String where) {
        assertEquals(want.token(), got.token(), where);
        if (Float.isNaN(want.logprob())) {
            assertTrue(Float.isNaN(got.logprob()), where);
        } else {
            assertEquals(want.logprob(), got.logprob(), 1e-5, where);
        }
        assertEquals(want.top().size(), got.top().size(), where);
        for (int i = 0; i < want.top().size(); i++) {
            assertEquals(want.top().get(i).token(), got.top().get(i).token(), where + ", top " + i);
            assertEquals(want.top().get(i).logprob(), got.top().get(i).logprob(), 1e-5, where + ", top " + i);
        }
    }

    /** Gaussian rows with a few strong candidates; {@code ties}: on a coarse grid, so that many logits are equal. */
    private static float[] logits(Random random, int rows, int vocab, boolean ties) {
        float[] l = new float[rows * vocab];
        double sigma = 0.5 + random.nextDouble() * 3;
        for (int i = 0; i < l.length; i++) {
            double v = random.nextGaussian() * sigma;
            l[i] = ties ? (float) (Math.round(v * 2) / 2.0) : (float) v;
        }
        for (int r = 0; r < rows; r++) {
            for (int j = random.nextInt(4); j > 0; j--) {
                l[r * vocab + random.nextInt(vocab)] += 4 + random.nextInt(6);
            }
        }
        return l;
    }

    private static SampleState randomState(Random random, int vocab, boolean constrained) {
        SamplingParams.Builder p = SamplingParams.builder().maxTokens(1000);
        switch (random.nextInt(6)) {
            case 0 -> p.temperature(0);
            case 1 -> p.temperature(0.2 + random.nextDouble() * 1.5);
            case 2 -> p.temperature(0.2 + random.nextDouble() * 1.5).topK(1 + random.nextInt(80));
            case 3 -> p.temperature(0.2 + random.nextDouble() * 1.5).topP(0.05 + random.nextDouble() * 0.95);
            case 4 -> p.temperature(0.5 + random.nextDouble()).topK(random.nextInt(3) == 0 ? 1 + random.nextInt(vocab + 10) : 40)
                    .topP(0.3 + random.nextDouble() * 0.7).minP(random.nextDouble() * 0.3);
            default -> p.temperature(0.3 + random.nextDouble()).minP(random.nextDouble() * 0.5);
        }
        if (random.nextInt(3) == 0) {
            p.repetitionPenalty(0.5 + random.nextDouble() * 1.5);
        }
        if (random.nextInt(3) == 0) {
            p.frequencyPenalty(random.nextDouble() * 4 - 2).presencePenalty(random.nextDouble() * 4 - 2);
        }
        if (random.nextInt(4) == 0) {
            Map<Integer, Float> bias = new HashMap<>();
            for (int i = random.nextInt(5); i >= 0; i--) {
                bias.put(random.nextInt(vocab + 20) - 10, (float) (random.nextDouble() * 200 - 100));
            }
            p.logitBias(bias);
        }
        if (random.nextInt(4) == 0) {
            p.minTokens(random.nextInt(20)).stopTokenIds(Set.of(random.nextInt(vocab), 3)).ignoreEos(random.nextBoolean());
        }
        if (random.nextInt(3) == 0) {
            p.logprobs(random.nextInt(SamplingParams.MAX_LOGPROBS + 1));
        }
        SampleState s = new SampleState(p.build(), random.nextLong(), constrained ? Set.of(GRAMMAR_EOS) : END,
                random.ints(random.nextInt(40), 0, vocab).toArray());
        if (constrained) {
            s.constrain(grammar.matcher());
            // A prefix of one of the documents, so that the mask changes from draw to draw.
            String prefix = List.of("", "y", "ye", "yes", "n", "no", "may", "maybe ").get(random.nextInt(8));
            for (char c : prefix.toCharArray()) {
                s.accept(c);
            }
        } else {
            for (int i = random.nextInt(30); i > 0; i--) {
                s.accept(random.nextInt(8) == 0 ? 3 : random.nextInt(vocab));
            }
        }
        return s;
    }
}
