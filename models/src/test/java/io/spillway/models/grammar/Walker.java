package io.spillway.models.grammar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Drives a matcher as a model would: each step, some choice among the allowed tokens. */
final class Walker {

    /** A "model": picks one of the allowed tokens. */
    interface Chooser {
        int choose(List<Integer> allowed, Vocabulary v, Random random);
    }

    /** Uniform among allowed tokens; one step in four among those that close something, so documents end. */
    static final Chooser RANDOM = (allowed, v, r) -> {
        if (r.nextInt(4) == 0) {
            List<Integer> closing = new ArrayList<>();
            for (int t : allowed) {
                byte[] b = v.bytes(t);
                if (v.endTokens().contains(t) || (b != null && !v.isSpecial(t) && closes(b))) {
                    closing.add(t);
                }
            }
            if (!closing.isEmpty()) {
                return closing.get(r.nextInt(closing.size()));
            }
        }
        return allowed.get(r.nextInt(allowed.size()));
    };

    private static boolean closes(byte[] b) {
        for (byte x : b) {
            if (x == '"' || x == '}' || x == ']') {
                return true;
            }
        }
        return false;
    }

    /** Uniform among allowed tokens, whatever they are. */
    static final Chooser UNIFORM = (allowed, v, r) -> allowed.get(r.nextInt(allowed.size()));

    /** Whitespace whenever it may: the loop an untrained model falls into. */
    static final Chooser WHITESPACE = (allowed, v, r) -> {
        List<Integer> ws = new ArrayList<>();
        for (int t : allowed) {
            byte[] b = v.bytes(t);
            if (b != null && !v.isSpecial(t) && new String(b, StandardCharsets.UTF_8).isBlank()) {
                ws.add(t);
            }
        }
        return ws.isEmpty() ? RANDOM.choose(allowed, v, r) : ws.get(r.nextInt(ws.size()));
    };

    /** The longest token allowed. */
    static final Chooser LONGEST = (allowed, v, r) -> {
        int best = allowed.get(0);
        for (int t : allowed) {
            if (length(v, t) > length(v, best)) {
                best = t;
            }
        }
        return best;
    };

    /** A special token whenever one is allowed (end tokens included). */
    static final Chooser SPECIAL = (allowed, v, r) -> {
        for (int t : allowed) {
            if (v.isSpecial(t)) {
                return t;
            }
        }
        return RANDOM.choose(allowed, v, r);
    };

    private static int length(Vocabulary v, int t) {
        byte[] b = v.bytes(t);
        return v.isSpecial(t) || b == null ? 0 : b.length;
    }

    record Document(byte[] bytes, List<Integer> tokens) {
        String text() {
            return new String(bytes, StandardCharsets.UTF_8);
        }
    }

    /** Samples one document; fails unless an end token comes within maxTokens. */
    static Document sample(CompiledGrammar g, Chooser chooser, long seed, int maxTokens) {
        Vocabulary v = g.vocabulary();
        Random random = new Random(seed);
        Matcher m = g.matcher();
        long[] mask = new long[(v.size() + 63) >>> 6];
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        List<Integer> tokens = new ArrayList<>();
        for (int step = 0; step < maxTokens; step++) {
            m.allowedTokens(mask);
            List<Integer> allowed = allowed(mask);
            assertFalse(allowed.isEmpty(), () -> "nothing allowed after " + text.toString(StandardCharsets.UTF_8));
            int token = chooser.choose(allowed, v, random);
            boolean end = v.endTokens().contains(token);
            assertEquals(end, end && m.complete(), "an end token is allowed only when the document is complete");
            assertTrue(m.advance(token), "advance refused allowed token " + token);
            tokens.add(token);
            if (end) {
                assertTrue(m.mustEnd());
                return new Document(text.toByteArray(), tokens);
            }
            text.writeBytes(v.bytes(token));
            if (m.mustEnd()) {
                m.allowedTokens(mask);
                assertEquals(v.endTokens(), new java.util.HashSet<>(allowed(mask)), "only end tokens once it must end");
            }
        }
        fail("no end within " + maxTokens + " tokens: " + text.toString(StandardCharsets.UTF_8));
        return null;
    }

    static List<Integer> allowed(long[] mask) {
        List<Integer> ids = new ArrayList<>();
        for (int w = 0; w < mask.length; w++) {
            long bits = mask[w];
            while (bits != 0) {
                ids.add(w * 64 + Long.numberOfTrailingZeros(bits));
                bits &= bits - 1;
            }
        }
        return ids;
    }
}
