package io.spillway.models.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.models.grammar.CompiledGrammar;
import io.spillway.models.grammar.Grammar;
import io.spillway.models.grammar.Vocabulary;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The sampler under a grammar: whatever the logits say, every sampled token keeps the text a
 * prefix of an accepted document, and the sample ends exactly when the document does.
 */
class ConstrainedSamplingTest {

    /** 256 byte tokens, then an end token; the model's rows are wider than the vocabulary. */
    private static final int EOS = 256;
    private static final int MODEL_VOCAB = 300;
    private static final Vocabulary BYTES = bytes();

    private static Vocabulary bytes() {
        List<byte[]> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            tokens.add(new byte[] {(byte) b});
        }
        tokens.add("</s>".getBytes(StandardCharsets.UTF_8));
        return Vocabulary.of(tokens, Set.of(EOS), MODEL_VOCAB, Set.of(EOS));
    }

    private final Sampler sampler = new Sampler();

    private static SampleState constrained(SamplingParams p, long seed, Grammar grammar) {
        return new SampleState(p, seed, Set.of(EOS), new int[] {1, 2}).constrain(CompiledGrammar.compile(grammar, BYTES).matcher());
    }

    /** Samples until a stop token or {@code limit} tokens, returning the text (without the stop). */
    private String run(SampleState state, SamplingParams p, long logitSeed, int limit) {
        Random r = new Random(logitSeed);
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < limit; i++) {
            float[] l = new float[MODEL_VOCAB];
            for (int t = 0; t < MODEL_VOCAB; t++) {
                l[t] = (float) (r.nextGaussian() * 4);
            }
            l[EOS] = 8; // the model wants to stop at once
            int token = sampler.sample(l, 0, MODEL_VOCAB, state).token();
            state.accept(token);
            if (state.isStopToken(token)) {
                return text.toString();
            }
            text.append((char) token);
        }
        return text.toString();
    }

    @Test
    void everySampledTokenStaysInsideTheGrammarAndTheSampleEndsWithTheDocument() {
        Grammar yesNo = Grammar.oneOf(Grammar.literal("yes"), Grammar.literal("no"));
        for (long seed = 0; seed < 40; seed++) {
            SamplingParams p = seed % 2 == 0 ? SamplingParams.builder().temperature(0).build()
                    : SamplingParams.builder().temperature(1.5).topP(0.95).build();
            String text = run(constrained(p, seed, yesNo), p, seed, 20);
            assertTrue(text.equals("yes") || text.equals("no"), "seed " + seed + ": " + text);
        }
    }

    @Test
    void ignoreEosCannotRunPastACompleteDocument() {
        SamplingParams p = SamplingParams.builder().temperature(1.0).ignoreEos(true).build();
        assertEquals("done", run(constrained(p, 3, Grammar.literal("done")), p, 3, 50));
    }

    @Test
    void minTokensGivesWayWhenTheGrammarAllowsOnlyTheEnd() {
        // min_tokens masks the end token until 10 tokens, but the document is complete after 2.
        SamplingParams p = SamplingParams.builder().temperature(0).minTokens(10).build();
        assertEquals("ok", run(constrained(p, 1, Grammar.literal("ok")), p, 1, 50));
    }

    @Test
    void forkedSamplesCarryTheirOwnPlaceInTheGrammar() {
        SamplingParams p = SamplingParams.builder().temperature(1.0).build();
        SampleState parent = constrained(p, 5, Grammar.oneOf(Grammar.literal("ab"), Grammar.literal("ac")));
        parent.accept('a');
        SampleState child = parent.fork(6);
        child.accept('b');
        parent.accept('c');
        assertTrue(child.isStopToken(EOS) && parent.isStopToken(EOS));
        assertThrows(IllegalStateException.class, () -> child.accept('c'), "the child is past 'ab'");
    }

    @Test
    void aTokenTheGrammarForbidsIsRefusedNotRecorded() {
        SamplingParams p = SamplingParams.builder().temperature(0).build();
        SampleState s = constrained(p, 1, Grammar.literal("x"));
        assertThrows(IllegalStateException.class, () -> s.accept('y'));
        assertEquals(0, s.generated());
        assertFalse(new SampleState(p, 1, Set.of(EOS), new int[] {1}).constrained());
    }
}
