package io.spillway.models.grammar;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Runs an {@link Nfa} as a pushdown automaton over bytes: a configuration is the set of threads
 * (state, registers, stack of return states) that the text so far leaves alive. Immutable.
 *
 * <p>A stack may end in an <em>unknown</em> frame: that is how masks are computed once for every
 * context that shares the top of its stack. A thread that returns into the unknown frame
 * <em>escapes</em>: whether its token is allowed depends on the caller's context.
 */
final class Machine {

    /** Return state of a frame that stands for the unknown rest of a stack. */
    static final int UNKNOWN = -1;

    final Nfa nfa;
    final int maxDepth;
    /** Frames kept in a mask key; deeper ones are unknown. */
    private final int keptFrames;
    /** Registers are clipped to this in a mask key: no token can tell larger values apart. */
    final int clip;
    /** How many further calls a mask key knows it may make; beyond, the key's depth is a guess. */
    private final int depthSlack;

    Machine(Nfa nfa, int maxDepth, int keptFrames, int longestToken) {
        this.nfa = nfa;
        this.maxDepth = maxDepth;
        this.keptFrames = keptFrames;
        this.clip = longestToken + nfa.maxConstant + 2;
        this.depthSlack = 8;
    }

    /** A return address with the caller's registers; {@code capped} marks a guessed depth. */
    static final class Frame {
        final int ret;
        final int dm;
        final int dM;
        final Frame next;
        final int depth;
        final boolean capped;
        private final int hash;

        Frame(int ret, int dm, int dM, Frame next, int depth, boolean capped) {
            this.ret = ret;
            this.dm = dm;
            this.dM = dM;
            this.next = next;
            this.depth = depth;
            this.capped = capped;
            this.hash = ((ret * 31 + dm) * 31 + dM) * 31 + (next == null ? 0 : next.hash) * 17 + depth
                    + (capped ? 1 : 0);
        }

        @Override
        public boolean equals(Object o) {
            if (this == o) {
                return true;
            }
            if (!(o instanceof Frame f) || f.hash != hash) {
                return false;
            }
            return ret == f.ret && dm == f.dm && dM == f.dM && depth == f.depth && capped == f.capped
                    && Objects.equals(next, f.next);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    record Thread(int state, int dm, int dM, Frame stack) {
        int depth() {
            return stack == null ? 0 : stack.depth;
        }
    }

    private static final Comparator<Thread> ORDER = Comparator.comparingInt(Thread::state)
            .thenComparingInt(Thread::dm).thenComparingInt(Thread::dM)
            .thenComparingInt(t -> t.stack() == null ? 0 : t.stack().hashCode());

    /**
     * The threads that can consume a byte (others are spent once the closure is taken), whether
     * the document may end here, and whether some thread returned into an unknown frame.
     */
    static final class Config {
        final Thread[] threads;
        final boolean accepting;
        final boolean escaped;
        private final int hash;

        Config(Thread[] threads, boolean accepting, boolean escaped) {
            Arrays.sort(threads, ORDER);
            this.threads = threads;
            this.accepting = accepting;
            this.escaped = escaped;
            this.hash = Arrays.hashCode(threads) * 4 + (accepting ? 2 : 0) + (escaped ? 1 : 0);
        }

        /** Some document goes on from here (by a byte, or by ending). */
        boolean live() {
            return threads.length > 0 || accepting;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Config c && c.hash == hash && c.accepting == accepting && c.escaped == escaped
                    && Arrays.equals(c.threads, threads);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    Config initial() {
        return closure(List.of(new Thread(nfa.ruleStart[0], 0, Nfa.INF, null)));
    }

    /** The configuration after one more byte; literalOnly follows grammar literals alone. */
    Config step(Config c, int b, boolean literalOnly) {
        List<Thread> seeds = new ArrayList<>(c.threads.length);
        for (Thread t : c.threads) {
            if (nfa.consumes(t.state, b) && (!literalOnly || nfa.byteLiteral[t.state])) {
                seeds.add(new Thread(nfa.byteTarget[t.state], t.dm, t.dM, t.stack));
            }
        }
        return closure(seeds);
    }

    /** The configuration after these bytes, or null once nothing is left alive. */
    Config run(Config c, byte[] bytes, boolean literalOnly) {
        for (byte b : bytes) {
            c = step(c, b & 0xFF, literalOnly);
            if (!c.live()) {
                return null;
            }
        }
        return c;
    }

    private Config closure(List<Thread> seeds) {
        ArrayDeque<Thread> work = new ArrayDeque<>(seeds);
        Set<Thread> seen = new HashSet<>();
        Set<Thread> out = new LinkedHashSet<>();
        boolean accepting = false;
        boolean escaped = false;
        while (!work.isEmpty()) {
            Thread t = work.poll();
            if (!seen.add(t)) {
                continue;
            }
            int s = t.state;
            if (nfa.byteSet[s] != null) {
                out.add(t);
            }
            int[] edges = nfa.eps[s];
            for (int i = 0; i < edges.length; i += 4) {
                int to = edges[i];
                int a = edges[i + 2];
                switch (edges[i + 1]) {
                    case Nfa.OP_NONE -> work.add(new Thread(to, t.dm, t.dM, t.stack));
                    case Nfa.OP_ENTER -> work.add(new Thread(to, a, edges[i + 3], t.stack));
                    case Nfa.OP_CHAR -> {
                        if (t.dM == Nfa.INF || t.dM - 1 >= a) {
                            work.add(new Thread(to, Math.max(0, t.dm - 1), t.dM == Nfa.INF ? Nfa.INF : t.dM - 1,
                                    t.stack));
                        }
                    }
                    case Nfa.OP_EXIT_MIN -> {
                        if (t.dm == 0) {
                            work.add(new Thread(to, 0, Nfa.INF, t.stack));
                        }
                    }
                    case Nfa.OP_RESET -> work.add(new Thread(to, 0, Nfa.INF, t.stack));
                    default -> throw new IllegalStateException("op " + edges[i + 1]);
                }
            }
            int rule = nfa.callRule[s];
            if (rule >= 0) {
                int depth = t.depth() + 1;
                boolean capped = t.stack != null && t.stack.capped;
                if (depth <= maxDepth) {
                    Frame f = new Frame(nfa.callReturn[s], t.dm, t.dM, t.stack, depth, capped);
                    work.add(new Thread(nfa.ruleStart[rule], 0, Nfa.INF, f));
                } else if (capped) {
                    escaped = true; // the real stack may have room: the caller's context decides
                }
            }
            if (nfa.finalOf[s] >= 0) {
                if (t.stack == null) {
                    accepting |= nfa.finalOf[s] == 0;
                } else if (t.stack.ret == UNKNOWN) {
                    escaped = true;
                } else {
                    work.add(new Thread(t.stack.ret, t.stack.dm, t.stack.dM, t.stack.next));
                }
            }
        }
        return new Config(out.toArray(new Thread[0]), accepting, escaped);
    }

    /**
     * The mask key of a configuration: stacks cut below their top frames (kept deeper while a
     * kept frame could return without reading a byte), registers clipped. Tokens whose outcome
     * depends on what was cut escape, and are checked against the real stack at run time.
     */
    Config key(Config c) {
        Set<Thread> threads = new LinkedHashSet<>();
        for (Thread t : c.threads) {
            threads.add(new Thread(t.state, clip(t.dm), clip(t.dM), truncate(t.stack)));
        }
        return new Config(threads.toArray(new Thread[0]), c.accepting, c.escaped);
    }

    private int clip(int register) {
        return Math.min(register, clip);
    }

    private Frame truncate(Frame stack) {
        if (stack == null) {
            return null;
        }
        List<Frame> frames = new ArrayList<>();
        for (Frame f = stack; f != null; f = f.next) {
            frames.add(f);
        }
        int keep = Math.min(keptFrames, frames.size());
        while (keep < frames.size() && frames.get(keep - 1).ret >= 0 && nfa.nullableToFinal[frames.get(keep - 1).ret]) {
            keep++;
        }
        Frame bottom = null;
        int base = 0;
        if (keep < frames.size()) {
            int cutDepth = frames.size() - keep;
            boolean capped = maxDepth - cutDepth > depthSlack;
            base = capped ? maxDepth - depthSlack : cutDepth;
            bottom = new Frame(UNKNOWN, 0, Nfa.INF, null, base, capped);
        }
        Frame result = bottom;
        for (int i = keep - 1; i >= 0; i--) {
            Frame f = frames.get(i);
            result = new Frame(f.ret, clip(f.dm), clip(f.dM), result, base + (keep - i), bottom != null && bottom.capped);
        }
        return result;
    }
}
