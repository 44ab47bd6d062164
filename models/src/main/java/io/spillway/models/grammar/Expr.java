package io.spillway.models.grammar;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The byte-level language every grammar is lowered to before it becomes an automaton. Working on
 * bytes rather than characters is what lets one token end in the middle of a UTF-8 character.
 */
sealed interface Expr {

    /** A repetition without upper bound. */
    int UNBOUNDED = -1;

    /** One byte from a set; {@code literal} marks bytes a special token may stand for. */
    record ByteClass(long[] bits, boolean literal) implements Expr {
        public ByteClass {
            bits = bits.clone();
        }

        boolean contains(int b) {
            return (bits[b >>> 6] & (1L << b)) != 0;
        }
    }

    record Seq(List<Expr> items) implements Expr {
        public Seq {
            items = List.copyOf(items);
        }
    }

    /** An empty Alt matches nothing. */
    record Alt(List<Expr> options) implements Expr {
        public Alt {
            options = List.copyOf(options);
        }
    }

    record Star(Expr body) implements Expr {
    }

    /**
     * {@code body} between min and max times (max may be UNBOUNDED), counted in a thread's registers
     * rather than in automaton states, so a maxLength of 10,000 costs no more states than one of 10.
     * No counted loop may nest inside another within one rule, since a thread has one pair of
     * registers: {@link Rules#repeat} moves an inner one into a rule of its own (calls save them).
     */
    record Counted(Expr body, int min, int max) implements Expr {
    }

    /** Enters rule {@code rule}: how recursion ($ref, nested JSON) stays finite in the automaton. */
    record Call(int rule) implements Expr {
    }

    /** Text of at most maxChars characters without the terminator, then the terminator. */
    record TextUntil(byte[] terminator, int maxChars) implements Expr {
        public TextUntil {
            terminator = terminator.clone();
        }
    }

    /**
     * Object members in order, each required or optional, with the separator between those
     * written: built with two lanes of states (nothing written yet / something written) so no
     * member is copied more than twice, however many optional members lead.
     */
    record Members(List<Expr> items, List<Boolean> required, Expr separator) implements Expr {
        public Members {
            items = List.copyOf(items);
            required = List.copyOf(required);
        }
    }

    Expr EMPTY = new Seq(List.of());
    Expr NOTHING = new Alt(List.of());

    static Expr seq(Expr... items) {
        return seq(Arrays.asList(items));
    }

    static Expr seq(List<Expr> items) {
        List<Expr> flat = new ArrayList<>();
        for (Expr e : items) {
            if (e instanceof Seq s) {
                flat.addAll(s.items());
            } else if (e.equals(NOTHING)) {
                return NOTHING;
            } else {
                flat.add(e);
            }
        }
        return flat.size() == 1 ? flat.get(0) : new Seq(flat);
    }

    static Expr alt(Expr... options) {
        return alt(Arrays.asList(options));
    }

    static Expr alt(List<Expr> options) {
        List<Expr> flat = new ArrayList<>();
        for (Expr e : options) {
            if (e instanceof Alt a) {
                flat.addAll(a.options());
            } else {
                flat.add(e);
            }
        }
        return flat.size() == 1 ? flat.get(0) : new Alt(flat);
    }

    static Expr opt(Expr e) {
        return alt(e, EMPTY);
    }

    static Expr bytes(byte[] bytes, boolean literal) {
        List<Expr> items = new ArrayList<>(bytes.length);
        for (byte b : bytes) {
            items.add(range(b & 0xFF, b & 0xFF, literal));
        }
        return seq(items);
    }

    /** UTF-8 bytes of a string; not a grammar literal (special tokens may not stand for it). */
    static Expr text(String s) {
        return bytes(s.getBytes(StandardCharsets.UTF_8), false);
    }

    static ByteClass range(int lo, int hi) {
        return range(lo, hi, false);
    }

    static ByteClass range(int lo, int hi, boolean literal) {
        long[] bits = new long[4];
        for (int b = lo; b <= hi; b++) {
            bits[b >>> 6] |= 1L << b;
        }
        return new ByteClass(bits, literal);
    }

    /** One byte of the given ASCII characters. */
    static ByteClass anyOf(String chars) {
        long[] bits = new long[4];
        for (int i = 0; i < chars.length(); i++) {
            int b = chars.charAt(i);
            bits[b >>> 6] |= 1L << b;
        }
        return new ByteClass(bits, false);
    }

    /** A rough count of automaton states, to decide when repeating a piece should call it instead. */
    static int size(Expr e) {
        return switch (e) {
            case ByteClass b -> 2;
            case Seq s -> s.items().stream().mapToInt(Expr::size).sum() + 1;
            case Alt a -> a.options().stream().mapToInt(Expr::size).sum() + 2;
            case Star s -> size(s.body()) + 2;
            case Counted c -> size(c.body()) + 3;
            case Call c -> 2;
            case TextUntil t -> 16 * (t.terminator().length + 1);
            case Members m -> 2 * m.items().stream().mapToInt(Expr::size).sum() + 2 * m.items().size() * (size(m.separator()) + 2);
        };
    }

    static boolean hasCounter(Expr e) {
        return switch (e) {
            case ByteClass b -> false;
            case Seq s -> s.items().stream().anyMatch(Expr::hasCounter);
            case Alt a -> a.options().stream().anyMatch(Expr::hasCounter);
            case Star s -> hasCounter(s.body());
            case Counted c -> true;
            case Call c -> false;
            case TextUntil t -> true;
            case Members m -> m.items().stream().anyMatch(Expr::hasCounter) || hasCounter(m.separator());
        };
    }
}
