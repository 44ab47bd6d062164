package io.spillway.models.grammar;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A grammar compiled against one vocabulary: immutable in meaning, thread-safe, and meant to be
 * shared by every sequence that uses the same grammar (cache it per schema). Each sequence gets
 * its own {@link Matcher}.
 *
 * <p>Why it is fast (after xgrammar's design, not its code): the mask of a configuration is
 * computed once per <em>key</em> (the configuration with its stacks cut to their top frames) by
 * one walk of the vocabulary's byte trie, and cached. Most tokens are decided by the key alone,
 * whatever lies below the cut; the few whose bytes would return below it are kept in a short
 * list and checked against the real stack at each step.
 */
public final class CompiledGrammar {

    /** Calls in progress at most: bounds recursive $ref and the nesting of free JSON. */
    static final int MAX_DEPTH = 64;
    /** Frames of a stack that a mask key keeps. */
    private static final int KEPT_FRAMES = 2;

    private final Grammar grammar;
    private final Vocabulary vocabulary;
    final Machine machine;
    private final VocabularyTrie trie;
    private final int[] literalSpecials;
    private final int[] endTokens;
    private final Machine.Config initial;
    private final ConcurrentHashMap<Machine.Config, State> states = new ConcurrentHashMap<>();

    private CompiledGrammar(Grammar grammar, Vocabulary vocabulary, Nfa nfa) {
        this.grammar = grammar;
        this.vocabulary = vocabulary;
        this.trie = vocabulary.trie();
        this.machine = new Machine(nfa, MAX_DEPTH, KEPT_FRAMES, vocabulary.longestToken());
        this.literalSpecials = vocabulary.literalSpecials();
        this.endTokens = vocabulary.endTokens().stream().mapToInt(Integer::intValue).sorted().toArray();
        this.initial = machine.initial();
        if (!initial.live()) {
            throw new IllegalArgumentException("the grammar accepts no document");
        }
        mask(keyState(initial)); // the first step of every request is then ready
    }

    /**
     * Compiles a grammar for a vocabulary.
     *
     * @throws UnsupportedSchemaException when a JSON schema in it uses a keyword not supported
     * @throws IllegalArgumentException   when the grammar accepts no document
     */
    public static CompiledGrammar compile(Grammar grammar, Vocabulary vocabulary) {
        return new CompiledGrammar(grammar, vocabulary, NfaBuilder.build(Lowering.rules(grammar)));
    }

    public Matcher matcher() {
        return new Matcher(this, initial);
    }

    public Grammar grammar() {
        return grammar;
    }

    public Vocabulary vocabulary() {
        return vocabulary;
    }

    /** Configurations with their transitions and, for mask keys, their masks: filled as they are met. */
    static final class State {
        final Machine.Config config;
        final boolean dead;
        private final State[] next = new State[256];
        private volatile Mask mask;

        State(Machine.Config config) {
            this.config = config;
            this.dead = !config.live() && !config.escaped;
        }
    }

    /**
     * What a key decides: tokens allowed whatever lies below the cut (as bits when many, as a
     * list when few: most structural positions allow a handful of 151k tokens, and a list keeps
     * a schema's cache small), and tokens to check against the real stack.
     */
    record Mask(long[] dense, int[] sparse, int[] uncertain, int[] uncertainSpecials) {

        void writeTo(long[] mask) {
            if (dense != null) {
                System.arraycopy(dense, 0, mask, 0, mask.length);
            } else {
                java.util.Arrays.fill(mask, 0);
                for (int token : sparse) {
                    mask[token >>> 6] |= 1L << token;
                }
            }
        }
    }

    int[] endTokens() {
        return endTokens;
    }

    State keyState(Machine.Config full) {
        return intern(machine.key(full));
    }

    private State intern(Machine.Config c) {
        State s = states.get(c);
        return s != null ? s : states.computeIfAbsent(c, State::new);
    }

    private State next(State s, int b) {
        State n = s.next[b];
        if (n == null) {
            // Racing threads compute the same interned state: the write is idempotent.
            n = intern(machine.step(s.config, b, false));
            s.next[b] = n;
        }
        return n;
    }

    Mask mask(State key) {
        Mask m = key.mask;
        if (m == null) {
            synchronized (key) {
                m = key.mask;
                if (m == null) {
                    m = computeMask(key);
                    key.mask = m;
                }
            }
        }
        return m;
    }

    private Mask computeMask(State key) {
        long[] allowed = new long[(vocabulary.size() + 63) >>> 6];
        List<Integer> uncertain = new ArrayList<>();
        State[] path = new State[trie.maxDepth + 1];
        boolean[] escaped = new boolean[trie.maxDepth + 1];
        path[0] = key;
        escaped[0] = key.config.escaped;
        int n = trie.size();
        for (int i = 0; i < n; ) {
            int d = trie.depth[i];
            State s = next(path[d - 1], trie.nodeByte[i] & 0xFF);
            boolean esc = escaped[d - 1] || s.config.escaped;
            if (s.dead && !esc) {
                i = trie.subtreeEnd[i];
                continue;
            }
            path[d] = s;
            escaped[d] = esc;
            boolean live = s.config.live();
            for (int k = trie.tokenStart[i]; k < trie.tokenStart[i + 1]; k++) {
                int token = trie.tokens[k];
                if (live) {
                    allowed[token >>> 6] |= 1L << token;
                } else if (esc) {
                    uncertain.add(token);
                }
            }
            i++;
        }
        List<Integer> specials = new ArrayList<>();
        for (int token : literalSpecials) {
            Machine.Config c = key.config;
            boolean esc = c.escaped;
            for (byte b : vocabulary.rawBytes(token)) {
                c = machine.step(c, b & 0xFF, true);
                esc |= c.escaped;
                if (!c.live()) {
                    break;
                }
            }
            if (c.live()) {
                allowed[token >>> 6] |= 1L << token;
            } else if (esc) {
                specials.add(token);
            }
        }
        int count = 0;
        for (long word : allowed) {
            count += Long.bitCount(word);
        }
        int[] sparse = null;
        if (count < allowed.length) {
            sparse = new int[count];
            int k = 0;
            for (int w = 0; w < allowed.length; w++) {
                for (long bits = allowed[w]; bits != 0; bits &= bits - 1) {
                    sparse[k++] = w * 64 + Long.numberOfTrailingZeros(bits);
                }
            }
        }
        return new Mask(sparse == null ? allowed : null, sparse, uncertain.stream().mapToInt(Integer::intValue).toArray(),
                specials.stream().mapToInt(Integer::intValue).toArray());
    }
}
