package io.spillway.models.grammar;

import java.nio.charset.StandardCharsets;
import java.util.List;

/** From {@link Grammar} values to {@link Expr} rules. */
final class Lowering {

    private final Rules rules;
    private final JsonSyntax json;

    private Lowering(Rules rules) {
        this.rules = rules;
        this.json = new JsonSyntax(rules);
    }

    static List<Expr> rules(Grammar g) {
        Rules rules = new Rules();
        Lowering l = new Lowering(rules);
        rules.define(0, l.lower(g));
        return Productive.prune(rules.bodies());
    }

    private Expr lower(Grammar g) {
        return switch (g) {
            case Grammar.Literal l -> Expr.bytes(l.text().getBytes(StandardCharsets.UTF_8), true);
            case Grammar.Json j -> new JsonSchemaLowering(rules, json, j.schema()).lower();
            case Grammar.AnyJson a -> json.anyValue();
            case Grammar.AnyJsonObject o -> json.anyObject();
            case Grammar.Sequence s -> Expr.seq(s.items().stream().map(this::lower).toList());
            case Grammar.OneOf o -> Expr.alt(o.options().stream().map(this::lower).toList());
            case Grammar.Repeat r -> repeat(lower(r.item()), r.min(), r.max(),
                    Expr.bytes(r.separator().getBytes(StandardCharsets.UTF_8), true));
            case Grammar.TextUntil t -> new Expr.TextUntil(t.terminator().getBytes(StandardCharsets.UTF_8), t.maxChars());
            case Grammar.Whitespace w -> rules.repeat(JsonSyntax.WHITESPACE, 0, w.maxChars());
        };
    }

    /** item (separator item)*, min to max items. */
    Expr repeat(Expr item, int min, int max, Expr separator) {
        return separated(rules, item, min, max, separator);
    }

    static Expr separated(Rules rules, Expr item, int min, int max, Expr separator) {
        if (max == 0) {
            return Expr.EMPTY;
        }
        int restMax = max == Grammar.UNBOUNDED ? Expr.UNBOUNDED : max - 1;
        if (Expr.size(item) > 200) {
            item = new Expr.Call(rules.add(item)); // written twice below
        }
        Expr some = Expr.seq(item, rules.repeat(Expr.seq(separator, item), Math.max(0, min - 1), restMax));
        return min == 0 ? Expr.opt(some) : some;
    }
}
