package io.spillway.models.grammar;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Thompson's construction from {@link Expr} rules to an {@link Nfa}. */
final class NfaBuilder {

    private final List<long[]> byteSet = new ArrayList<>();
    private final List<Integer> byteTarget = new ArrayList<>();
    private final List<Boolean> byteLiteral = new ArrayList<>();
    private final List<int[]> eps = new ArrayList<>();
    private final List<Integer> callRule = new ArrayList<>();
    private final List<Integer> callReturn = new ArrayList<>();
    private final List<Integer> finalOf = new ArrayList<>();
    private int maxConstant;

    static Nfa build(List<Expr> rules) {
        NfaBuilder b = new NfaBuilder();
        int[] starts = new int[rules.size()];
        for (int r = 0; r < rules.size(); r++) {
            starts[r] = b.newState();
            int end = b.build(rules.get(r), starts[r]);
            b.finalOf.set(end, r);
        }
        return b.finish(starts);
    }

    private Nfa finish(int[] starts) {
        int n = byteSet.size();
        int[] bt = new int[n];
        boolean[] bl = new boolean[n];
        int[] cr = new int[n];
        int[] cret = new int[n];
        int[] fo = new int[n];
        for (int i = 0; i < n; i++) {
            bt[i] = byteTarget.get(i);
            bl[i] = byteLiteral.get(i);
            cr[i] = callRule.get(i);
            cret[i] = callReturn.get(i);
            fo[i] = finalOf.get(i);
        }
        return new Nfa(n, byteSet.toArray(new long[0][]), bt, bl, eps.toArray(new int[0][]), cr, cret, fo, starts,
                maxConstant);
    }

    private int newState() {
        byteSet.add(null);
        byteTarget.add(-1);
        byteLiteral.add(false);
        eps.add(new int[0]);
        callRule.add(-1);
        callReturn.add(-1);
        finalOf.add(-1);
        return byteSet.size() - 1;
    }

    private void edge(int from, int to, int op, int a, int b) {
        int[] old = eps.get(from);
        int[] grown = Arrays.copyOf(old, old.length + 4);
        grown[old.length] = to;
        grown[old.length + 1] = op;
        grown[old.length + 2] = a;
        grown[old.length + 3] = b;
        eps.set(from, grown);
        if (op == Nfa.OP_CHAR) {
            maxConstant = Math.max(maxConstant, a);
        }
    }

    private void eps(int from, int to) {
        edge(from, to, Nfa.OP_NONE, 0, 0);
    }

    private int byteEdge(int from, long[] bits, boolean literal) {
        int s = newState();
        eps(from, s);
        int t = newState();
        byteSet.set(s, bits.clone());
        byteTarget.set(s, t);
        byteLiteral.set(s, literal);
        return t;
    }

    /** Wires {@code e} after state {@code from}; returns the state where it ends. */
    private int build(Expr e, int from) {
        switch (e) {
            case Expr.ByteClass b -> {
                return byteEdge(from, b.bits(), b.literal());
            }
            case Expr.Seq s -> {
                int cur = from;
                for (Expr item : s.items()) {
                    cur = build(item, cur);
                }
                return cur;
            }
            case Expr.Alt a -> {
                int end = newState();
                for (Expr option : a.options()) {
                    int start = newState();
                    eps(from, start);
                    eps(build(option, start), end);
                }
                return end;
            }
            case Expr.Star s -> {
                int head = newState();
                eps(from, head);
                eps(build(s.body(), head), head);
                int out = newState();
                eps(head, out);
                return out;
            }
            case Expr.Counted c -> {
                int head = newState();
                edge(from, head, Nfa.OP_ENTER, c.min(), c.max() == Expr.UNBOUNDED ? Nfa.INF : c.max());
                int body = newState();
                edge(head, body, Nfa.OP_CHAR, 0, 0);
                eps(build(c.body(), body), head);
                int out = newState();
                edge(head, out, Nfa.OP_EXIT_MIN, 0, 0);
                return out;
            }
            case Expr.Call c -> {
                int call = newState();
                eps(from, call);
                int ret = newState();
                callRule.set(call, c.rule());
                callReturn.set(call, ret);
                return ret;
            }
            case Expr.TextUntil t -> {
                return textUntil(t.terminator(), t.maxChars(), from);
            }
            case Expr.Members m -> {
                return members(m, from);
            }
        }
    }

    private int members(Expr.Members m, int from) {
        int n = m.items().size();
        int[] fresh = new int[n + 1]; // nothing written yet
        int[] after = new int[n + 1]; // something written: the next member needs a separator
        for (int i = 0; i <= n; i++) {
            fresh[i] = newState();
            after[i] = newState();
        }
        eps(from, fresh[0]);
        for (int i = 0; i < n; i++) {
            Expr item = m.items().get(i);
            eps(build(item, fresh[i]), after[i + 1]);
            eps(build(Expr.seq(m.separator(), item), after[i]), after[i + 1]);
            if (!m.required().get(i)) {
                eps(fresh[i], fresh[i + 1]);
                eps(after[i], after[i + 1]);
            }
        }
        int out = newState();
        eps(fresh[n], out);
        eps(after[n], out);
        return out;
    }

    /**
     * Free text until the first occurrence of the terminator: a product of KMP over the
     * terminator's bytes and a UTF-8 validator, so tokens may end mid-character. Each character
     * is counted; once only the terminator's length is left in the budget, the text must end.
     */
    private int textUntil(byte[] term, int maxChars, int from) {
        int n = term.length;
        int termChars = new String(term, java.nio.charset.StandardCharsets.UTF_8).codePointCount(0,
                new String(term, java.nio.charset.StandardCharsets.UTF_8).length());
        int[] fail = kmpFailure(term);
        int[] heads = new int[n];
        for (int p = 0; p < n; p++) {
            heads[p] = newState();
        }
        edge(from, heads[0], Nfa.OP_ENTER, 0, maxChars + termChars);
        int exit = newState();
        int out = newState();
        edge(exit, out, Nfa.OP_RESET, 0, 0);
        // Completing the terminator from any head, as bytes a special token may stand for.
        for (int p = 0; p < n; p++) {
            int cur = heads[p];
            for (int i = p; i < n; i++) {
                cur = byteEdge(cur, Expr.range(term[i] & 0xFF, term[i] & 0xFF).bits(), true);
            }
            eps(cur, exit);
            if (p > 0 && firstOccurrenceAtEnd(term, p)) {
                cur = heads[p];
                for (byte b : term) {
                    cur = byteEdge(cur, Expr.range(b & 0xFF, b & 0xFF).bits(), true);
                }
                eps(cur, exit);
            }
        }
        // Free characters: states (kmp position, utf-8 state), built as they are reached.
        Map<Long, Integer> product = new HashMap<>();
        List<long[]> pending = new ArrayList<>();
        for (int p = 0; p < n; p++) {
            int start = newState();
            edge(heads[p], start, Nfa.OP_CHAR, termChars, 0);
            product.put(key(p, 0), start);
            pending.add(new long[] {p, 0});
        }
        while (!pending.isEmpty()) {
            long[] item = pending.remove(pending.size() - 1);
            int q = (int) item[0];
            int u = (int) item[1];
            int state = product.get(key(q, u));
            Map<Integer, long[]> byTarget = new HashMap<>();
            for (int b = 0; b < 256; b++) {
                int u2 = Utf8.next(u, b);
                if (u2 < 0) {
                    continue;
                }
                int q2 = kmpStep(term, fail, q, b);
                if (q2 == n && u2 != 0) {
                    continue; // valid UTF-8 terminators end on a character boundary
                }
                int target;
                if (u2 == 0) {
                    target = q2 == n ? exit : heads[q2];
                } else {
                    Integer existing = product.get(key(q2, u2));
                    if (existing == null) {
                        existing = newState();
                        product.put(key(q2, u2), existing);
                        pending.add(new long[] {q2, u2});
                    }
                    target = existing;
                }
                byTarget.computeIfAbsent(target, k -> new long[4])[b >>> 6] |= 1L << b;
            }
            for (Map.Entry<Integer, long[]> en : byTarget.entrySet()) {
                int s = newState();
                eps(state, s);
                byteSet.set(s, en.getValue());
                byteTarget.set(s, en.getKey());
            }
        }
        return out;
    }

    private static long key(int q, int u) {
        return ((long) q << 8) | u;
    }

    private static int[] kmpFailure(byte[] t) {
        int[] f = new int[t.length + 1];
        f[0] = -1;
        for (int i = 1, k = -1; i <= t.length; i++) {
            while (k >= 0 && t[k] != t[i - 1]) {
                k = f[k];
            }
            k++;
            f[i] = k;
        }
        return f;
    }

    private static int kmpStep(byte[] t, int[] fail, int q, int b) {
        while (q >= 0 && (t[q] & 0xFF) != b) {
            q = fail[q];
        }
        return q + 1;
    }

    /** Whether the terminator appended after its own first p bytes first occurs at the very end. */
    private static boolean firstOccurrenceAtEnd(byte[] t, int p) {
        byte[] s = new byte[p + t.length];
        System.arraycopy(t, 0, s, 0, p);
        System.arraycopy(t, 0, s, p, t.length);
        outer:
        for (int i = 0; i + t.length < s.length; i++) {
            for (int j = 0; j < t.length; j++) {
                if (s[i + j] != t[j]) {
                    continue outer;
                }
            }
            return false;
        }
        return true;
    }
}
