package io.spillway.models.grammar;

/**
 * A byte-level automaton with rule calls: each state consumes at most one byte class, and its
 * epsilon edges may test or change the thread's two counting registers. Immutable once built.
 *
 * <p>Registers: {@code dm} is how many more counted items must come before the loop may end,
 * {@code dM} how many more may come at most ({@link #INF} when unbounded). Counting in registers
 * instead of states keeps a maxLength of thousands from multiplying the automaton.
 */
final class Nfa {

    static final int INF = Integer.MAX_VALUE;

    static final int OP_NONE = 0;
    /** Enter a counted loop: dm = a, dM = b. */
    static final int OP_ENTER = 1;
    /** One more counted item, allowed while at least a more may follow it. */
    static final int OP_CHAR = 2;
    /** Leave a counted loop once its minimum is met. */
    static final int OP_EXIT_MIN = 3;
    /** Leave a counted loop unconditionally. */
    static final int OP_RESET = 4;

    final int stateCount;
    /** Per state, the byte class it consumes (4 longs), or null. */
    final long[][] byteSet;
    final int[] byteTarget;
    final boolean[] byteLiteral;
    /** Per state, epsilon edges as groups of four ints: target, op, a, b. */
    final int[][] eps;
    final int[] callRule;
    final int[] callReturn;
    /** Per state, the rule it ends, or -1. */
    final int[] finalOf;
    /** Whether the state reaches its rule's end without consuming a byte (edges' tests ignored). */
    final boolean[] nullableToFinal;
    final int[] ruleStart;
    /** The largest constant an OP_CHAR compares against. */
    final int maxConstant;

    Nfa(int stateCount, long[][] byteSet, int[] byteTarget, boolean[] byteLiteral, int[][] eps, int[] callRule,
            int[] callReturn, int[] finalOf, int[] ruleStart, int maxConstant) {
        this.stateCount = stateCount;
        this.byteSet = byteSet;
        this.byteTarget = byteTarget;
        this.byteLiteral = byteLiteral;
        this.eps = eps;
        this.callRule = callRule;
        this.callReturn = callReturn;
        this.finalOf = finalOf;
        this.ruleStart = ruleStart;
        this.maxConstant = maxConstant;
        this.nullableToFinal = nullableToFinal();
    }

    boolean consumes(int state, int b) {
        long[] set = byteSet[state];
        return set != null && (set[b >>> 6] & (1L << b)) != 0;
    }

    private boolean[] nullableToFinal() {
        boolean[] result = new boolean[stateCount];
        boolean changed = true;
        while (changed) {
            changed = false;
            for (int s = 0; s < stateCount; s++) {
                if (result[s]) {
                    continue;
                }
                boolean r = finalOf[s] >= 0;
                for (int i = 0; !r && i < eps[s].length; i += 4) {
                    r = result[eps[s][i]];
                }
                if (r) {
                    result[s] = true;
                    changed = true;
                }
            }
        }
        return result;
    }
}
