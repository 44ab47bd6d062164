package io.spillway.models.grammar;

import java.util.ArrayList;
import java.util.List;

/**
 * Removes what can never finish: a rule that only derives infinite text (a schema whose required
 * property refers back to itself, say) would let the model start something it can never end. Its
 * calls become NOTHING, so alternatives around them remain and a grammar with no finite document
 * is refused at compile time rather than leaving a sequence with no allowed token.
 */
final class Productive {

    private final List<Expr> rules;
    private final boolean[] productive;

    private Productive(List<Expr> rules) {
        this.rules = rules;
        this.productive = new boolean[rules.size()];
        boolean changed = true;
        while (changed) {
            changed = false;
            for (int r = 0; r < rules.size(); r++) {
                if (!productive[r] && finite(rules.get(r))) {
                    productive[r] = true;
                    changed = true;
                }
            }
        }
    }

    static List<Expr> prune(List<Expr> rules) {
        Productive p = new Productive(rules);
        if (!p.productive[0]) {
            throw new IllegalArgumentException("the grammar accepts no finite document");
        }
        List<Expr> out = new ArrayList<>(rules.size());
        for (int r = 0; r < rules.size(); r++) {
            out.add(p.productive[r] ? p.prune(rules.get(r)) : Expr.NOTHING);
        }
        return out;
    }

    private boolean finite(Expr e) {
        return switch (e) {
            case Expr.ByteClass b -> b.bits()[0] != 0 || b.bits()[1] != 0 || b.bits()[2] != 0 || b.bits()[3] != 0;
            case Expr.Seq s -> s.items().stream().allMatch(this::finite);
            case Expr.Alt a -> a.options().stream().anyMatch(this::finite);
            case Expr.Star s -> true;
            case Expr.Counted c -> c.min() == 0 || finite(c.body());
            case Expr.Call c -> productive[c.rule()];
            case Expr.TextUntil t -> true;
            case Expr.Members m -> {
                boolean ok = true;
                for (int i = 0; i < m.items().size(); i++) {
                    ok &= !m.required().get(i) || (finite(m.items().get(i)) && (i == 0 || finite(m.separator())));
                }
                yield ok;
            }
        };
    }

    private Expr prune(Expr e) {
        if (!finite(e)) {
            return Expr.NOTHING;
        }
        return switch (e) {
            case Expr.ByteClass b -> b;
            case Expr.Seq s -> Expr.seq(s.items().stream().map(this::prune).toList());
            case Expr.Alt a -> Expr.alt(a.options().stream().filter(this::finite).map(this::prune).toList());
            case Expr.Star s -> finite(s.body()) ? new Expr.Star(prune(s.body())) : Expr.EMPTY;
            case Expr.Counted c -> finite(c.body()) ? new Expr.Counted(prune(c.body()), c.min(), c.max()) : Expr.EMPTY;
            case Expr.Call c -> c;
            case Expr.TextUntil t -> t;
            case Expr.Members m -> {
                List<Expr> items = new ArrayList<>();
                List<Boolean> required = new ArrayList<>();
                for (int i = 0; i < m.items().size(); i++) {
                    if (finite(m.items().get(i))) {
                        items.add(prune(m.items().get(i)));
                        required.add(m.required().get(i));
                    }
                }
                yield new Expr.Members(items, required, prune(m.separator()));
            }
        };
    }
}
