package io.spillway.models.grammar;

import java.util.ArrayList;
import java.util.List;

/**
 * The regular-expression subset of JSON Schema's {@code pattern} (and of our format patterns):
 * literals, classes with ranges and negation, {@code . \d \w \s} (and their negations), the usual
 * character escapes, quantifiers {@code * + ? {n} {n,} {n,m}} (lazy forms accepted: they match
 * the same strings), groups (capturing or {@code (?:)}), alternation, and {@code ^ $} at the ends.
 * Like JSON Schema it searches: without {@code ^} (or {@code $}) any text may come before (after).
 * The result is the string's content as JSON writes it: quotes, backslashes and control
 * characters escaped.
 */
final class Regex {

    private final String src;
    private final String pointer;
    private final Rules rules;
    private int pos;

    private Regex(String src, String pointer, Rules rules) {
        this.src = src;
        this.pointer = pointer;
        this.rules = rules;
    }

    /** The JSON-escaped content of strings in which the pattern finds a match. */
    static Expr lower(String pattern, String pointer, Rules rules) {
        Regex r = new Regex(pattern, pointer, rules);
        boolean anchoredStart = r.eat('^');
        Expr body = r.alternation();
        boolean anchoredEnd = false;
        if (r.pos < pattern.length() && pattern.charAt(r.pos) == '$' && r.pos == pattern.length() - 1) {
            anchoredEnd = true;
            r.pos++;
        }
        if (r.pos != pattern.length()) {
            throw r.unsupported("'" + pattern.charAt(r.pos) + "' at offset " + r.pos);
        }
        Expr any = new Expr.Star(JsonSyntax.stringChar());
        return Expr.seq(anchoredStart ? Expr.EMPTY : any, body, anchoredEnd ? Expr.EMPTY : any);
    }

    private UnsupportedSchemaException unsupported(String what) {
        return new UnsupportedSchemaException("pattern", pointer, "regex feature " + what + " in /" + src + "/");
    }

    private boolean eat(char c) {
        if (pos < src.length() && src.charAt(pos) == c) {
            pos++;
            return true;
        }
        return false;
    }

    private boolean more() {
        return pos < src.length();
    }

    private Expr alternation() {
        List<Expr> options = new ArrayList<>();
        options.add(concatenation());
        while (eat('|')) {
            options.add(concatenation());
        }
        return Expr.alt(options);
    }

    private Expr concatenation() {
        List<Expr> items = new ArrayList<>();
        while (more() && src.charAt(pos) != '|' && src.charAt(pos) != ')') {
            if (src.charAt(pos) == '$' && pos == src.length() - 1) {
                break;
            }
            items.add(quantified(atom()));
        }
        return Expr.seq(items);
    }

    private Expr quantified(Expr atom) {
        while (more()) {
            char c = src.charAt(pos);
            int min;
            int max;
            if (c == '*') {
                pos++;
                min = 0;
                max = Expr.UNBOUNDED;
            } else if (c == '+') {
                pos++;
                min = 1;
                max = Expr.UNBOUNDED;
            } else if (c == '?') {
                pos++;
                min = 0;
                max = 1;
            } else if (c == '{' && braceQuantifier()) {
                pos++;
                min = number();
                max = min;
                if (eat(',')) {
                    max = more() && Character.isDigit(src.charAt(pos)) ? number() : Expr.UNBOUNDED;
                }
                if (!eat('}')) {
                    throw unsupported("an unclosed {n,m}");
                }
                if (max != Expr.UNBOUNDED && max < min) {
                    throw unsupported("{" + min + "," + max + "}");
                }
            } else {
                return atom;
            }
            if (more() && src.charAt(pos) == '+') {
                throw unsupported("possessive quantifiers");
            }
            eat('?'); // lazy: same strings
            atom = rules.repeat(atom, min, max);
        }
        return atom;
    }

    private boolean braceQuantifier() {
        int i = pos + 1;
        int start = i;
        while (i < src.length() && Character.isDigit(src.charAt(i))) {
            i++;
        }
        return i > start && i < src.length() && (src.charAt(i) == '}' || src.charAt(i) == ',');
    }

    private int number() {
        int start = pos;
        while (more() && Character.isDigit(src.charAt(pos))) {
            pos++;
        }
        if (pos - start > 6) {
            throw unsupported("a repetition count above 999999");
        }
        return Integer.parseInt(src.substring(start, pos));
    }

    private Expr atom() {
        int c = src.codePointAt(pos);
        pos += Character.charCount(c);
        switch (c) {
            case '(' -> {
                if (eat('?')) {
                    if (!eat(':')) {
                        throw unsupported("(?" + (more() ? src.charAt(pos) : "") + " groups (lookaround, named groups, flags)");
                    }
                }
                Expr inner = alternation();
                if (!eat(')')) {
                    throw unsupported("an unclosed group");
                }
                return inner;
            }
            case '[' -> {
                return chars(charClass());
            }
            case '.' -> {
                // No line terminator of either Java's or ECMAScript's dialect: validators use one or the other.
                return chars(CodePoints.range(0, Utf8.MAX).minus(CodePoints.of('\n')).minus(CodePoints.of('\r'))
                        .minus(CodePoints.of(0x85)).minus(CodePoints.range(0x2028, 0x2029)));
            }
            case '\\' -> {
                return chars(escape(false));
            }
            case '^', '$' -> throw unsupported("anchors other than ^ at the start and $ at the end");
            case ')' -> throw unsupported("an unmatched )");
            case '*', '+', '?' -> throw unsupported("a quantifier with nothing to repeat");
            default -> {
                return chars(CodePoints.of(c));
            }
        }
    }

    private CodePoints charClass() {
        boolean negated = eat('^');
        CodePoints set = CodePoints.NONE;
        boolean first = true;
        while (true) {
            if (!more()) {
                throw unsupported("an unclosed [");
            }
            if (src.charAt(pos) == ']' && !first) {
                pos++;
                break;
            }
            first = false;
            CodePoints item = classAtom();
            if (item.single() >= 0 && pos + 1 < src.length() && src.charAt(pos) == '-' && src.charAt(pos + 1) != ']') {
                pos++;
                CodePoints hi = classAtom();
                if (hi.single() < 0 || hi.single() < item.single()) {
                    throw unsupported("a bad range in a class");
                }
                item = CodePoints.range(item.single(), hi.single());
            }
            set = set.union(item);
        }
        return negated ? CodePoints.range(0, Utf8.MAX).minus(set) : set;
    }

    private CodePoints classAtom() {
        int c = src.codePointAt(pos);
        pos += Character.charCount(c);
        if (c == '\\') {
            return escape(true);
        }
        if (c == '[' && more() && src.charAt(pos) == ':') {
            throw unsupported("POSIX classes [:name:]");
        }
        return CodePoints.of(c);
    }

    private CodePoints escape(boolean inClass) {
        if (!more()) {
            throw unsupported("a trailing backslash");
        }
        char c = src.charAt(pos++);
        CodePoints digit = CodePoints.range('0', '9');
        CodePoints word = digit.union(CodePoints.range('a', 'z')).union(CodePoints.range('A', 'Z')).union(CodePoints.of('_'));
        CodePoints space = CodePoints.of(' ').union(CodePoints.range('\t', '\r'));
        CodePoints all = CodePoints.range(0, Utf8.MAX);
        return switch (c) {
            case 'd' -> digit;
            case 'D' -> all.minus(digit);
            case 'w' -> word;
            case 'W' -> all.minus(word);
            case 's' -> space;
            case 'S' -> all.minus(space);
            case 'n' -> CodePoints.of('\n');
            case 'r' -> CodePoints.of('\r');
            case 't' -> CodePoints.of('\t');
            case 'f' -> CodePoints.of('\f');
            case 'v' -> CodePoints.of(0x0B);
            case '0' -> CodePoints.of(0);
            case 'b' -> {
                if (inClass) {
                    yield CodePoints.of('\b');
                }
                throw unsupported("word boundaries \\b");
            }
            case 'u' -> {
                if (pos + 4 > src.length() || !src.substring(pos, pos + 4).matches("[0-9a-fA-F]{4}")) {
                    throw unsupported("a \\u escape without four hex digits");
                }
                int cp = Integer.parseInt(src.substring(pos, pos + 4), 16);
                pos += 4;
                yield CodePoints.of(cp);
            }
            case 'x' -> {
                if (pos + 2 > src.length() || !src.substring(pos, pos + 2).matches("[0-9a-fA-F]{2}")) {
                    throw unsupported("a \\x escape without two hex digits");
                }
                int cp = Integer.parseInt(src.substring(pos, pos + 2), 16);
                pos += 2;
                yield CodePoints.of(cp);
            }
            default -> {
                if (Character.isLetterOrDigit(c)) {
                    throw unsupported("\\" + c);
                }
                yield CodePoints.of(c);
            }
        };
    }

    /** One character from the set, as JSON writes it inside a string. */
    static Expr chars(CodePoints set) {
        List<Expr> options = new ArrayList<>();
        CodePoints plain = set.minus(CodePoints.range(0, 0x1F)).minus(CodePoints.of('"')).minus(CodePoints.of('\\'));
        for (int[] r : plain.ranges()) {
            options.add(Utf8.range(r[0], r[1]));
        }
        for (int[] r : set.minus(plain).ranges()) {
            for (int cp = r[0]; cp <= r[1]; cp++) {
                options.add(Expr.text(escaped(cp)));
            }
        }
        return Expr.alt(options);
    }

    private static String escaped(int cp) {
        return switch (cp) {
            case '"' -> "\\\"";
            case '\\' -> "\\\\";
            case '\n' -> "\\n";
            case '\r' -> "\\r";
            case '\t' -> "\\t";
            case '\b' -> "\\b";
            case '\f' -> "\\f";
            default -> String.format("\\u%04x", cp);
        };
    }
}
