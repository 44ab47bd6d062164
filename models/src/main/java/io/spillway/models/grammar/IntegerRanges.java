package io.spillway.models.grammar;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;

/**
 * Decimal integers within bounds, exactly: the digits of every integer in [lo, hi] and of no
 * other, without leading zeros. An open side stops at {@link JsonSyntax#MAX_INT_DIGITS} digits.
 */
final class IntegerRanges {

    private IntegerRanges() {
    }

    /** Integers in [lo, hi]; null for an open side. NOTHING when the range is empty. */
    static Expr integers(BigInteger lo, BigInteger hi) {
        List<Expr> options = new ArrayList<>();
        if (lo == null || lo.signum() < 0) {
            // -k for k in [max(1, -hi), -lo]
            BigInteger kLo = hi == null || hi.signum() >= 0 ? BigInteger.ONE : hi.negate();
            BigInteger kHi = lo == null ? null : lo.negate();
            Expr k = magnitudes(kLo, kHi);
            if (!k.equals(Expr.NOTHING)) {
                options.add(Expr.seq(Expr.text("-"), k));
            }
        }
        if (hi == null || hi.signum() >= 0) {
            options.add(magnitudes(lo == null || lo.signum() < 0 ? BigInteger.ZERO : lo, hi));
        }
        return Expr.alt(options);
    }

    /** Non-negative integers in [a, b] (b null: up to the digit limit). */
    static Expr magnitudes(BigInteger a, BigInteger b) {
        if (b == null) {
            b = BigInteger.TEN.pow(Math.max(JsonSyntax.MAX_INT_DIGITS, a.toString().length())).subtract(BigInteger.ONE);
        }
        if (a.compareTo(b) > 0) {
            return Expr.NOTHING;
        }
        List<Expr> options = new ArrayList<>();
        int la = a.toString().length();
        int lb = b.toString().length();
        for (int len = la; len <= lb; len++) {
            BigInteger lo = len == la ? a : BigInteger.TEN.pow(len - 1);
            BigInteger hi = len == lb ? b : BigInteger.TEN.pow(len).subtract(BigInteger.ONE);
            options.add(sameLength(lo.toString(), hi.toString()));
        }
        return Expr.alt(options);
    }

    private static Expr sameLength(String lo, String hi) {
        if (lo.isEmpty()) {
            return Expr.EMPTY;
        }
        char l = lo.charAt(0);
        char h = hi.charAt(0);
        String lr = lo.substring(1);
        String hr = hi.substring(1);
        if (l == h) {
            return Expr.seq(Expr.range(l, l), sameLength(lr, hr));
        }
        if (lr.chars().allMatch(c -> c == '0') && hr.chars().allMatch(c -> c == '9')) {
            return Expr.seq(Expr.range(l, h), digits(lr.length()));
        }
        List<Expr> options = new ArrayList<>();
        options.add(Expr.seq(Expr.range(l, l), sameLength(lr, "9".repeat(lr.length()))));
        if (h - l >= 2) {
            options.add(Expr.seq(Expr.range(l + 1, h - 1), digits(lr.length())));
        }
        options.add(Expr.seq(Expr.range(h, h), sameLength("0".repeat(hr.length()), hr)));
        return Expr.alt(options);
    }

    private static Expr digits(int n) {
        List<Expr> d = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            d.add(JsonSyntax.DIGIT);
        }
        return Expr.seq(d);
    }
}
