package io.spillway.models.grammar;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The rules of one grammar being lowered: rule 0 is the document, the others are entered by
 * {@link Expr.Call}. Repetition is lowered here because the choice between copying a piece,
 * counting it in registers and calling it is about the automaton's size, not the language.
 */
final class Rules {

    /** Up to this many repetitions are written out as copies: cheaper at run time than counting. */
    private static final int UNROLL = 12;
    /** Beyond this many automaton states of copies, a repeated piece becomes a rule of its own. */
    private static final int COPY_BUDGET = 3000;

    private final List<Expr> bodies = new ArrayList<>();

    Rules() {
        bodies.add(null); // the root, defined last
    }

    int reserve() {
        bodies.add(null);
        return bodies.size() - 1;
    }

    void define(int rule, Expr body) {
        bodies.set(rule, body);
    }

    int add(Expr body) {
        int id = reserve();
        define(id, body);
        return id;
    }

    List<Expr> bodies() {
        for (int i = 0; i < bodies.size(); i++) {
            if (bodies.get(i) == null) {
                throw new IllegalStateException("rule " + i + " was reserved but never defined");
            }
        }
        return Collections.unmodifiableList(bodies);
    }

    /** {@code body} min to max times (max may be {@link Expr#UNBOUNDED}). */
    Expr repeat(Expr body, int min, int max) {
        if (max != Expr.UNBOUNDED && max < min) {
            return Expr.NOTHING;
        }
        int copies = max == Expr.UNBOUNDED ? Math.min(min, UNROLL) + 1 : Math.min(max, UNROLL + 1);
        if (copies > 1 && !(body instanceof Expr.Call) && (long) Expr.size(body) * copies > COPY_BUDGET) {
            body = new Expr.Call(add(body));
        }
        if (max == Expr.UNBOUNDED) {
            if (min <= UNROLL) {
                List<Expr> items = new ArrayList<>(Collections.nCopies(min, body));
                items.add(new Expr.Star(body));
                return Expr.seq(items);
            }
            return counted(body, min, max);
        }
        if (max <= UNROLL) {
            Expr tail = Expr.EMPTY;
            for (int i = min; i < max; i++) {
                tail = Expr.opt(Expr.seq(body, tail));
            }
            List<Expr> items = new ArrayList<>(Collections.nCopies(min, body));
            items.add(tail);
            return Expr.seq(items);
        }
        return counted(body, min, max);
    }

    private Expr counted(Expr body, int min, int max) {
        if (Expr.hasCounter(body)) {
            body = new Expr.Call(add(body));
        }
        return new Expr.Counted(body, min, max);
    }
}
