package io.spillway.models.grammar;

import java.util.ArrayList;
import java.util.List;

/** UTF-8 as byte classes: a validating automaton, and code point ranges as byte sequences. */
final class Utf8 {

    static final int MAX = 0x10FFFF;

    private Utf8() {
    }

    /**
     * One step of a UTF-8 validator; 0 is a character boundary, -1 an invalid byte. States: 1..3
     * need that many continuation bytes; 4 after E0 (A0-BF), 5 after ED (80-9F, no surrogates),
     * 6 after F0 (90-BF), 7 after F4 (80-8F).
     */
    static int next(int state, int b) {
        boolean cont = b >= 0x80 && b <= 0xBF;
        return switch (state) {
            case 0 -> {
                if (b < 0x80) {
                    yield 0;
                } else if (b >= 0xC2 && b <= 0xDF) {
                    yield 1;
                } else if (b == 0xE0) {
                    yield 4;
                } else if (b == 0xED) {
                    yield 5;
                } else if (b >= 0xE1 && b <= 0xEF) {
                    yield 2;
                } else if (b == 0xF0) {
                    yield 6;
                } else if (b >= 0xF1 && b <= 0xF3) {
                    yield 3;
                } else if (b == 0xF4) {
                    yield 7;
                }
                yield -1;
            }
            case 1 -> cont ? 0 : -1;
            case 2 -> cont ? 1 : -1;
            case 3 -> cont ? 2 : -1;
            case 4 -> b >= 0xA0 && b <= 0xBF ? 1 : -1;
            case 5 -> b >= 0x80 && b <= 0x9F ? 1 : -1;
            case 6 -> b >= 0x90 && b <= 0xBF ? 2 : -1;
            case 7 -> b >= 0x80 && b <= 0x8F ? 2 : -1;
            default -> -1;
        };
    }

    /** Whether the bytes are complete, valid UTF-8. */
    static boolean valid(byte[] bytes) {
        int s = 0;
        for (byte b : bytes) {
            s = next(s, b & 0xFF);
            if (s < 0) {
                return false;
            }
        }
        return s == 0;
    }

    /** Any one of the code points in [lo, hi] (surrogates excluded), as UTF-8. */
    static Expr range(int lo, int hi) {
        List<Expr> options = new ArrayList<>();
        if (lo <= 0xD7FF) {
            split(lo, Math.min(hi, 0xD7FF), options);
        }
        if (hi >= 0xE000) {
            split(Math.max(lo, 0xE000), hi, options);
        }
        return Expr.alt(options);
    }

    private static final int[] MAX_OF_LENGTH = {0x7F, 0x7FF, 0xFFFF, MAX};

    private static void split(int lo, int hi, List<Expr> out) {
        if (lo > hi) {
            return;
        }
        for (int len = 0; len < 4; len++) {
            int top = MAX_OF_LENGTH[len];
            int bottom = len == 0 ? 0 : MAX_OF_LENGTH[len - 1] + 1;
            int a = Math.max(lo, bottom);
            int b = Math.min(hi, top);
            if (a <= b) {
                sameLength(a, b, len + 1, out);
            }
        }
    }

    /** Code points of one encoded length: split until each byte position is a plain range. */
    private static void sameLength(int lo, int hi, int len, List<Expr> out) {
        for (int i = 1; i < len; i++) {
            int m = (1 << (6 * i)) - 1; // the low bits that continuation bytes i.. carry
            if ((lo & ~m) != (hi & ~m)) {
                if ((lo & m) != 0) {
                    sameLength(lo, lo | m, len, out);
                    sameLength((lo | m) + 1, hi, len, out);
                    return;
                }
                if ((hi & m) != m) {
                    sameLength(lo, (hi & ~m) - 1, len, out);
                    sameLength(hi & ~m, hi, len, out);
                    return;
                }
            }
        }
        byte[] a = encode(lo);
        byte[] b = encode(hi);
        List<Expr> seq = new ArrayList<>(len);
        for (int i = 0; i < len; i++) {
            seq.add(Expr.range(a[i] & 0xFF, b[i] & 0xFF));
        }
        out.add(Expr.seq(seq));
    }

    static byte[] encode(int cp) {
        return new String(Character.toChars(cp)).getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }
}
