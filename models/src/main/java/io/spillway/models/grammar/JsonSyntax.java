package io.spillway.models.grammar;

import java.util.ArrayList;
import java.util.List;

/**
 * JSON's lexical pieces as {@link Expr}, with the bounds that keep an untrained model from
 * writing forever where JSON itself sets no limit: whitespace between tokens and the digits of
 * numbers. Strings and arrays without maxLength / maxItems are left unbounded (the request's
 * max_tokens bounds them), since any bound there would refuse documents the schema allows.
 */
final class JsonSyntax {

    /** Whitespace characters between two JSON tokens at most. */
    static final int MAX_GAP = 4;
    /** Digits of an unbounded integer (or of a number's integer part) at most. */
    static final int MAX_INT_DIGITS = 18;
    /** Digits of a number's fraction at most. */
    static final int MAX_FRACTION_DIGITS = 16;
    /** Digits of an exponent at most: two keep every number a finite double (1e999 is not). */
    static final int MAX_EXPONENT_DIGITS = 2;

    static final Expr.ByteClass WHITESPACE = Expr.anyOf(" \t\n\r");
    static final Expr.ByteClass DIGIT = Expr.range('0', '9');

    private final Rules rules;
    private int objectRule = -1;
    private int arrayRule = -1;

    JsonSyntax(Rules rules) {
        this.rules = rules;
    }

    Expr gap() {
        return rules.repeat(WHITESPACE, 0, MAX_GAP);
    }

    Expr token(String ascii) {
        return Expr.text(ascii);
    }

    /** gap sep gap */
    Expr separator(String sep) {
        return Expr.seq(gap(), token(sep), gap());
    }

    /** One character of a JSON string's content, as written: UTF-8 or an escape. */
    static Expr stringChar() {
        Expr hex = hex();
        Expr unicode = Expr.seq(Expr.text("u"), Expr.alt(
                Expr.seq(Expr.anyOf("0123456789abcABCefEF"), hex, hex, hex),
                Expr.seq(Expr.anyOf("dD"), Expr.range('0', '7'), hex, hex)));
        Expr escape = Expr.seq(Expr.text("\\"), Expr.alt(Expr.anyOf("\"\\/bfnrt"), unicode));
        return Expr.alt(Utf8.range(0x20, 0x21), Utf8.range(0x23, 0x5B), Utf8.range(0x5D, Utf8.MAX), escape);
    }

    static Expr hex() {
        return Expr.anyOf("0123456789abcdefABCDEF");
    }

    /** A string of min to max characters (max may be UNBOUNDED), counted in code points. */
    Expr string(int min, int max) {
        Expr body = min == 0 && max == Expr.UNBOUNDED ? new Expr.Star(stringChar()) : rules.repeat(stringChar(), min, max);
        return Expr.seq(token("\""), body, token("\""));
    }

    Expr number() {
        Expr integer = integer();
        Expr fraction = Expr.seq(token("."), rules.repeat(DIGIT, 1, MAX_FRACTION_DIGITS));
        Expr exponent = Expr.seq(Expr.anyOf("eE"), Expr.opt(Expr.anyOf("+-")), rules.repeat(DIGIT, 1, MAX_EXPONENT_DIGITS));
        return Expr.seq(integer, Expr.opt(fraction), Expr.opt(exponent));
    }

    Expr integer() {
        return Expr.seq(Expr.opt(token("-")), Expr.alt(token("0"),
                Expr.seq(Expr.range('1', '9'), rules.repeat(DIGIT, 0, MAX_INT_DIGITS - 1))));
    }

    Expr fractionDigits() {
        return rules.repeat(DIGIT, 1, MAX_FRACTION_DIGITS);
    }

    Expr anyValue() {
        return Expr.alt(string(0, Expr.UNBOUNDED), number(), token("true"), token("false"), token("null"),
                anyObject(), anyArray());
    }

    /** Any object: a rule of its own, since its values nest objects. */
    Expr anyObject() {
        if (objectRule < 0) {
            objectRule = rules.reserve();
            Expr member = Expr.seq(string(0, Expr.UNBOUNDED), gap(), token(":"), gap(), anyValue());
            rules.define(objectRule, container("{", member, "}"));
        }
        return new Expr.Call(objectRule);
    }

    Expr anyArray() {
        if (arrayRule < 0) {
            arrayRule = rules.reserve();
            rules.define(arrayRule, container("[", anyValue(), "]"));
        }
        return new Expr.Call(arrayRule);
    }

    /** open gap [item (gap , gap item)*] gap close */
    Expr container(String open, Expr item, String close) {
        List<Expr> parts = new ArrayList<>();
        parts.add(token(open));
        parts.add(gap());
        parts.add(Expr.opt(Expr.seq(item, new Expr.Star(Expr.seq(separator(","), item)), gap())));
        parts.add(token(close));
        return Expr.seq(parts);
    }
}
