package io.spillway.models.template;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Python's value semantics, as Jinja2 inherits them: truthiness, {@code str()} and {@code repr()}
 * (including float formatting), equality, ordering, arithmetic, lengths and slicing, and the JSON
 * that transformers' {@code tojson} writes. Values are Java objects: String, Long, Double,
 * Boolean, null (None), List, {@link Tuple}, Map (insertion ordered), {@link Undefined},
 * {@link Namespace} and callables.
 */
final class Py {

    private Py() {
    }

    /** Jinja's undefined: empty when printed, false when tested, chainable when accessed. */
    record Undefined(String name) {
        @Override
        public String toString() {
            return "";
        }
    }

    /** A Python tuple: an immutable list that prints with parentheses. */
    static final class Tuple extends java.util.AbstractList<Object> {
        private final List<Object> items;

        Tuple(List<Object> items) {
            this.items = List.copyOf(nullsAllowed(items));
        }

        private static List<Object> nullsAllowed(List<Object> items) {
            // List.copyOf rejects nulls; wrap them.
            List<Object> out = new ArrayList<>(items.size());
            for (Object o : items) {
                out.add(o == null ? NONE : o);
            }
            return out;
        }

        @Override
        public Object get(int index) {
            Object o = items.get(index);
            return o == NONE ? null : o;
        }

        @Override
        public int size() {
            return items.size();
        }
    }

    private static final Object NONE = new Object();

    /** Jinja's {@code namespace()}: the one mutable object templates may assign attributes on. */
    static final class Namespace {
        final Map<String, Object> attributes = new LinkedHashMap<>();
    }

    static boolean truthy(Object v) {
        if (v == null || v instanceof Undefined) {
            return false;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        if (v instanceof Long l) {
            return l != 0;
        }
        if (v instanceof Double d) {
            return d != 0;
        }
        if (v instanceof Number n) {
            return n.doubleValue() != 0;
        }
        if (v instanceof CharSequence s) {
            return s.length() > 0;
        }
        if (v instanceof Collection<?> c) {
            return !c.isEmpty();
        }
        if (v instanceof Map<?, ?> m) {
            return !m.isEmpty();
        }
        return true;
    }

    /** Python's {@code str()}. */
    static String str(Object v) {
        if (v instanceof String s) {
            return s;
        }
        if (v instanceof Undefined) {
            return "";
        }
        return repr(v);
    }

    /** Python's {@code repr()}. */
    static String repr(Object v) {
        if (v == null) {
            return "None";
        }
        if (v instanceof Boolean b) {
            return b ? "True" : "False";
        }
        if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
            return v.toString();
        }
        if (v instanceof Double || v instanceof Float) {
            return floatRepr(((Number) v).doubleValue());
        }
        if (v instanceof String s) {
            return stringRepr(s);
        }
        if (v instanceof Undefined) {
            return "";
        }
        if (v instanceof Tuple t) {
            StringBuilder sb = new StringBuilder("(");
            for (int i = 0; i < t.size(); i++) {
                sb.append(i > 0 ? ", " : "").append(repr(t.get(i)));
            }
            return sb.append(t.size() == 1 ? ",)" : ")").toString();
        }
        if (v instanceof List<?> l) {
            StringBuilder sb = new StringBuilder("[");
            for (int i = 0; i < l.size(); i++) {
                sb.append(i > 0 ? ", " : "").append(repr(l.get(i)));
            }
            return sb.append(']').toString();
        }
        if (v instanceof Map<?, ?> m) {
            StringBuilder sb = new StringBuilder("{");
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                sb.append(first ? "" : ", ").append(repr(e.getKey())).append(": ").append(repr(e.getValue()));
                first = false;
            }
            return sb.append('}').toString();
        }
        if (v instanceof Namespace n) {
            return "<Namespace " + n.attributes + ">";
        }
        return v.toString();
    }

    /** Python's repr of a str: single quotes unless only double quotes avoid escaping. */
    static String stringRepr(String s) {
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        StringBuilder sb = new StringBuilder().append(quote);
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cp == quote || cp == '\\') {
                sb.append('\\').appendCodePoint(cp);
            } else if (cp == '\n') {
                sb.append("\\n");
            } else if (cp == '\r') {
                sb.append("\\r");
            } else if (cp == '\t') {
                sb.append("\\t");
            } else if (!printable(cp)) {
                if (cp < 0x100) {
                    sb.append(String.format("\\x%02x", cp));
                } else if (cp < 0x10000) {
                    sb.append(String.format("\\u%04x", cp));
                } else {
                    sb.append(String.format("\\U%08x", cp));
                }
            } else {
                sb.appendCodePoint(cp);
            }
        }
        return sb.append(quote).toString();
    }

    private static boolean printable(int cp) {
        if (cp == ' ') {
            return true;
        }
        int type = Character.getType(cp);
        return type != Character.CONTROL && type != Character.FORMAT && type != Character.SURROGATE
                && type != Character.PRIVATE_USE && type != Character.UNASSIGNED && type != Character.LINE_SEPARATOR
                && type != Character.PARAGRAPH_SEPARATOR && type != Character.SPACE_SEPARATOR;
    }

    /** Python's float repr: shortest round-trip digits, scientific below 1e-4 and from 1e16. */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) {
            return "nan";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "inf" : "-inf";
        }
        if (d == 0) {
            return (1 / d < 0) ? "-0.0" : "0.0";
        }
        BigDecimal bd = new BigDecimal(Double.toString(Math.abs(d))).stripTrailingZeros();
        String digits = bd.unscaledValue().toString();
        int exponent = digits.length() - 1 - bd.scale();
        String sign = d < 0 ? "-" : "";
        if (exponent >= -5 + 1 && exponent < 16) {
            if (exponent >= 0) {
                String intPart = digits.length() > exponent + 1 ? digits.substring(0, exponent + 1)
                        : digits + "0".repeat(exponent + 1 - digits.length());
                String frac = digits.length() > exponent + 1 ? digits.substring(exponent + 1) : "0";
                return sign + intPart + "." + frac;
            }
            return sign + "0." + "0".repeat(-exponent - 1) + digits;
        }
        String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        String exp = String.format("%s%02d", exponent < 0 ? "-" : "+", Math.abs(exponent));
        return sign + mantissa + "e" + exp;
    }

    static boolean isNumber(Object v) {
        return v instanceof Long || v instanceof Double || v instanceof Integer || v instanceof Boolean;
    }

    static boolean isInteger(Object v) {
        return v instanceof Long || v instanceof Integer;
    }

    static double toDouble(Object v) {
        if (v instanceof Boolean b) {
            return b ? 1 : 0;
        }
        return ((Number) v).doubleValue();
    }

    static long toLong(Object v) {
        if (v instanceof Boolean b) {
            return b ? 1 : 0;
        }
        return ((Number) v).longValue();
    }

    static boolean eq(Object a, Object b) {
        if (a == b) {
            return true;
        }
        if (a == null || b == null) {
            return false;
        }
        if (a instanceof Undefined || b instanceof Undefined) {
            return a instanceof Undefined && b instanceof Undefined;
        }
        if (isNumber(a) && isNumber(b)) {
            return (isInteger(a) || a instanceof Boolean) && (isInteger(b) || b instanceof Boolean)
                    ? toLong(a) == toLong(b) : toDouble(a) == toDouble(b);
        }
        if (a instanceof List<?> la && b instanceof List<?> lb) {
            if ((a instanceof Tuple) != (b instanceof Tuple) || la.size() != lb.size()) {
                return false;
            }
            for (int i = 0; i < la.size(); i++) {
                if (!eq(la.get(i), lb.get(i))) {
                    return false;
                }
            }
            return true;
        }
        if (a instanceof Map<?, ?> ma && b instanceof Map<?, ?> mb) {
            if (ma.size() != mb.size()) {
                return false;
            }
            for (Map.Entry<?, ?> e : ma.entrySet()) {
                if (!mb.containsKey(e.getKey()) || !eq(e.getValue(), mb.get(e.getKey()))) {
                    return false;
                }
            }
            return true;
        }
        return a.equals(b);
    }

    static int compare(Object a, Object b) {
        if (isNumber(a) && isNumber(b)) {
            return Double.compare(toDouble(a), toDouble(b));
        }
        if (a instanceof String sa && b instanceof String sb) {
            return compareCodePoints(sa, sb);
        }
        if (a instanceof List<?> la && b instanceof List<?> lb) {
            for (int i = 0; i < Math.min(la.size(), lb.size()); i++) {
                if (!eq(la.get(i), lb.get(i))) {
                    return compare(la.get(i), lb.get(i));
                }
            }
            return Integer.compare(la.size(), lb.size());
        }
        throw new TemplateException("'<' not supported between " + typeName(a) + " and " + typeName(b));
    }

    private static int compareCodePoints(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }

    static String typeName(Object v) {
        if (v == null) {
            return "NoneType";
        }
        if (v instanceof String) {
            return "str";
        }
        if (v instanceof Boolean) {
            return "bool";
        }
        if (isInteger(v)) {
            return "int";
        }
        if (v instanceof Double) {
            return "float";
        }
        if (v instanceof Tuple) {
            return "tuple";
        }
        if (v instanceof List) {
            return "list";
        }
        if (v instanceof Map) {
            return "dict";
        }
        if (v instanceof Undefined) {
            return "Undefined";
        }
        return v.getClass().getSimpleName();
    }

    static long len(Object v) {
        if (v instanceof String s) {
            return s.codePointCount(0, s.length());
        }
        if (v instanceof Collection<?> c) {
            return c.size();
        }
        if (v instanceof Map<?, ?> m) {
            return m.size();
        }
        if (v instanceof Undefined) {
            return 0;
        }
        throw new TemplateException("object of type '" + typeName(v) + "' has no len()");
    }

    /** What a for loop (or list()) iterates: list items, dict keys, string characters. */
    static List<Object> iterate(Object v) {
        if (v == null) {
            throw new TemplateException("'NoneType' object is not iterable");
        }
        if (v instanceof Undefined) {
            return List.of();
        }
        if (v instanceof List<?> l) {
            return new ArrayList<>(l);
        }
        if (v instanceof Map<?, ?> m) {
            return new ArrayList<>(m.keySet());
        }
        if (v instanceof String s) {
            List<Object> out = new ArrayList<>();
            s.codePoints().forEach(cp -> out.add(new String(Character.toChars(cp))));
            return out;
        }
        if (v instanceof Collection<?> c) {
            return new ArrayList<>(c);
        }
        if (v instanceof Iterator<?> it) {
            List<Object> out = new ArrayList<>();
            it.forEachRemaining(out::add);
            return out;
        }
        throw new TemplateException("'" + typeName(v) + "' object is not iterable");
    }

    static boolean contains(Object container, Object item) {
        if (container instanceof String s) {
            if (!(item instanceof String sub)) {
                throw new TemplateException("'in <string>' requires string as left operand, not " + typeName(item));
            }
            return s.contains(sub);
        }
        if (container instanceof Map<?, ?> m) {
            return m.containsKey(item);
        }
        if (container instanceof Undefined || container == null) {
            return false;
        }
        for (Object o : iterate(container)) {
            if (eq(o, item)) {
                return true;
            }
        }
        return false;
    }

    static Object add(Object a, Object b) {
        if (isNumber(a) && isNumber(b)) {
            return isInteger(a) && isInteger(b) || a instanceof Boolean && isInteger(b) || isInteger(a) && b instanceof Boolean
                    ? (Object) (toLong(a) + toLong(b)) : (Object) (toDouble(a) + toDouble(b));
        }
        if (a instanceof String sa && b instanceof String sb) {
            return sa + sb;
        }
        if (a instanceof List<?> la && b instanceof List<?> lb) {
            List<Object> out = new ArrayList<>(la);
            out.addAll(lb);
            return a instanceof Tuple && b instanceof Tuple ? new Tuple(out) : out;
        }
        throw new TemplateException("unsupported operand types for +: '" + typeName(a) + "' and '" + typeName(b) + "'");
    }

    static Object arithmetic(String op, Object a, Object b) {
        if (op.equals("*") && (a instanceof String || a instanceof List) && isInteger(b)) {
            return repeat(a, toLong(b));
        }
        if (op.equals("*") && (b instanceof String || b instanceof List) && isInteger(a)) {
            return repeat(b, toLong(a));
        }
        if (op.equals("%") && a instanceof String s) {
            return percentFormat(s, b);
        }
        if (!isNumber(a) || !isNumber(b)) {
            throw new TemplateException("unsupported operand types for " + op + ": '" + typeName(a) + "' and '" + typeName(b) + "'");
        }
        boolean ints = !(a instanceof Double) && !(b instanceof Double);
        switch (op) {
            case "-" -> {
                return ints ? (Object) (toLong(a) - toLong(b)) : (Object) (toDouble(a) - toDouble(b));
            }
            case "*" -> {
                return ints ? (Object) (toLong(a) * toLong(b)) : (Object) (toDouble(a) * toDouble(b));
            }
            case "/" -> {
                if (toDouble(b) == 0) {
                    throw new TemplateException("division by zero");
                }
                return toDouble(a) / toDouble(b);
            }
            case "//" -> {
                if (toDouble(b) == 0) {
                    throw new TemplateException("integer division or modulo by zero");
                }
                return ints ? (Object) Math.floorDiv(toLong(a), toLong(b)) : (Object) Math.floor(toDouble(a) / toDouble(b));
            }
            case "%" -> {
                if (toDouble(b) == 0) {
                    throw new TemplateException("integer division or modulo by zero");
                }
                if (ints) {
                    return Math.floorMod(toLong(a), toLong(b));
                }
                double r = toDouble(a) % toDouble(b);
                return r != 0 && (r < 0) != (toDouble(b) < 0) ? r + toDouble(b) : r;
            }
            case "**" -> {
                if (ints && toLong(b) >= 0) {
                    long result = 1;
                    for (long i = 0; i < toLong(b); i++) {
                        result *= toLong(a);
                    }
                    return result;
                }
                return Math.pow(toDouble(a), toDouble(b));
            }
            default -> throw new TemplateException("unknown operator " + op);
        }
    }

    private static Object repeat(Object seq, long times) {
        if (seq instanceof String s) {
            return times <= 0 ? "" : s.repeat((int) times);
        }
        List<Object> out = new ArrayList<>();
        for (long i = 0; i < times; i++) {
            out.addAll((List<?>) seq);
        }
        return out;
    }

    /** {@code "%s and %d" % (a, b)}: the conversions templates use. */
    private static String percentFormat(String format, Object args) {
        List<Object> values = args instanceof Tuple t ? new ArrayList<>(t) : List.of(args == null ? NONE : args);
        StringBuilder out = new StringBuilder();
        int next = 0;
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 >= format.length()) {
                out.append(c);
                continue;
            }
            char conv = format.charAt(++i);
            if (conv == '%') {
                out.append('%');
                continue;
            }
            Object v = values.get(next++);
            v = v == NONE ? null : v;
            switch (conv) {
                case 'd', 'i' -> out.append(toLong(v));
                case 'r' -> out.append(repr(v));
                default -> out.append(str(v));
            }
        }
        return out.toString();
    }

    static Object negate(Object v) {
        if (v instanceof Double d) {
            return -d;
        }
        if (isNumber(v)) {
            return -toLong(v);
        }
        throw new TemplateException("bad operand type for unary -: '" + typeName(v) + "'");
    }

    /** Python slicing of lists, tuples and strings, with negative indices and steps. */
    static Object slice(Object target, Object start, Object stop, Object step) {
        List<Object> items;
        boolean string = target instanceof String;
        if (string) {
            items = iterate(target);
        } else if (target instanceof List<?> l) {
            items = new ArrayList<>(l);
        } else if (target instanceof Undefined) {
            return target;
        } else {
            throw new TemplateException("'" + typeName(target) + "' object is not subscriptable");
        }
        int n = items.size();
        long st = step == null ? 1 : toLong(step);
        if (st == 0) {
            throw new TemplateException("slice step cannot be zero");
        }
        long lo;
        long hi;
        if (st > 0) {
            lo = start == null ? 0 : clampIndex(toLong(start), n, 0, n);
            hi = stop == null ? n : clampIndex(toLong(stop), n, 0, n);
        } else {
            lo = start == null ? n - 1 : clampIndex(toLong(start), n, -1, n - 1);
            hi = stop == null ? -1 : clampIndex(toLong(stop), n, -1, n - 1);
        }
        List<Object> out = new ArrayList<>();
        for (long i = lo; st > 0 ? i < hi : i > hi; i += st) {
            out.add(items.get((int) i));
        }
        if (string) {
            StringBuilder sb = new StringBuilder();
            out.forEach(o -> sb.append(o));
            return sb.toString();
        }
        return target instanceof Tuple ? new Tuple(out) : out;
    }

    private static long clampIndex(long i, int n, long min, long max) {
        if (i < 0) {
            i += n;
        }
        return Math.max(min, Math.min(max, i));
    }

    /** json.dumps(v, ensure_ascii=False, indent=indent, sort_keys=False), as transformers' tojson. */
    static String json(Object v, Integer indent) {
        StringBuilder sb = new StringBuilder();
        writeJson(sb, v, indent, 0);
        return sb.toString();
    }

    private static void writeJson(StringBuilder sb, Object v, Integer indent, int depth) {
        if (v == null || v instanceof Undefined) {
            sb.append("null");
        } else if (v instanceof Boolean b) {
            sb.append(b ? "true" : "false");
        } else if (v instanceof Double d) {
            sb.append(Double.isNaN(d) ? "NaN" : Double.isInfinite(d) ? (d > 0 ? "Infinity" : "-Infinity") : floatRepr(d));
        } else if (v instanceof Number n) {
            sb.append(n.longValue());
        } else if (v instanceof String s) {
            jsonString(sb, s);
        } else if (v instanceof Map<?, ?> m) {
            if (m.isEmpty()) {
                sb.append("{}");
                return;
            }
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                sb.append(first ? "" : indent == null ? ", " : ",");
                newline(sb, indent, depth + 1);
                Object key = e.getKey();
                jsonString(sb, key instanceof String s ? s : key == null ? "null" : key instanceof Boolean b
                        ? (b ? "true" : "false") : str(key));
                sb.append(": ");
                writeJson(sb, e.getValue(), indent, depth + 1);
                first = false;
            }
            newline(sb, indent, depth);
            sb.append('}');
        } else if (v instanceof Collection<?> c) {
            if (c.isEmpty()) {
                sb.append("[]");
                return;
            }
            sb.append('[');
            boolean first = true;
            for (Object o : c) {
                sb.append(first ? "" : indent == null ? ", " : ",");
                newline(sb, indent, depth + 1);
                writeJson(sb, o, indent, depth + 1);
                first = false;
            }
            newline(sb, indent, depth);
            sb.append(']');
        } else if (v instanceof Namespace n) {
            writeJson(sb, n.attributes, indent, depth);
        } else {
            throw new TemplateException("Object of type " + typeName(v) + " is not JSON serializable");
        }
    }

    private static void newline(StringBuilder sb, Integer indent, int depth) {
        if (indent != null) {
            sb.append('\n').append(" ".repeat(indent * depth));
        }
    }

    private static void jsonString(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }
}
