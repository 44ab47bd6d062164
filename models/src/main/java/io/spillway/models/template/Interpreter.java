package io.spillway.models.template;

import io.spillway.models.template.Py.Namespace;
import io.spillway.models.template.Py.Tuple;
import io.spillway.models.template.Py.Undefined;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Evaluates a parsed template with Jinja2's semantics. Scoping follows Jinja: a {@code for} body is
 * a fresh scope per iteration (assignments inside do not leak out, hence {@code namespace}), an
 * {@code if} is not a scope, a macro sees the scope it was defined in plus its parameters.
 */
final class Interpreter {

    /** A function templates can call: builtins, macros and bound methods. */
    interface Callable {
        Object call(Interpreter interpreter, List<Object> args, Map<String, Object> kwargs);
    }

    private static final class Frame {
        final Frame parent;
        final Map<String, Object> vars = new HashMap<>();

        Frame(Frame parent) {
            this.parent = parent;
        }

        Object lookup(String name) {
            for (Frame f = this; f != null; f = f.parent) {
                if (f.vars.containsKey(name)) {
                    return f.vars.get(name);
                }
            }
            return new Undefined(name);
        }
    }

    private static final class BreakSignal extends RuntimeException {
        BreakSignal() {
            super(null, null, false, false);
        }
    }

    private static final class ContinueSignal extends RuntimeException {
        ContinueSignal() {
            super(null, null, false, false);
        }
    }

    /** A macro bound to the scope it was defined in. */
    private record MacroValue(Node.Macro macro, Frame scope) implements Callable {
        @Override
        public Object call(Interpreter in, List<Object> args, Map<String, Object> kwargs) {
            Frame frame = new Frame(scope);
            List<Object> extra = new ArrayList<>();
            for (int i = 0; i < args.size(); i++) {
                if (i < macro.params().size()) {
                    frame.vars.put(macro.params().get(i), args.get(i));
                } else {
                    extra.add(args.get(i));
                }
            }
            Map<String, Object> extraKw = new LinkedHashMap<>();
            for (Map.Entry<String, Object> e : kwargs.entrySet()) {
                if (macro.params().contains(e.getKey())) {
                    frame.vars.put(e.getKey(), e.getValue());
                } else {
                    extraKw.put(e.getKey(), e.getValue());
                }
            }
            for (int i = 0; i < macro.params().size(); i++) {
                String p = macro.params().get(i);
                if (!frame.vars.containsKey(p)) {
                    Node.Expr d = macro.defaults().get(i);
                    frame.vars.put(p, d == null ? new Undefined(p) : in.eval(d, frame));
                }
            }
            frame.vars.put("varargs", new Tuple(extra));
            frame.vars.put("kwargs", extraKw);
            StringBuilder out = new StringBuilder();
            in.render(macro.body(), frame, out);
            return out.toString();
        }
    }

    /** A method looked up on a value, called later: {@code s.strip}, {@code d.items}. */
    private record BoundMethod(Object self, String name) implements Callable {
        @Override
        public Object call(Interpreter in, List<Object> args, Map<String, Object> kwargs) {
            return Methods.call(in, self, name, args, kwargs);
        }
    }

    /** Jinja's {@code loop} variable. */
    static final class Loop {
        final List<Object> items;
        int index0;

        Loop(List<Object> items) {
            this.items = items;
        }

        Object get(String name) {
            int n = items.size();
            return switch (name) {
                case "index" -> (long) index0 + 1;
                case "index0" -> (long) index0;
                case "revindex" -> (long) (n - index0);
                case "revindex0" -> (long) (n - index0 - 1);
                case "first" -> index0 == 0;
                case "last" -> index0 == n - 1;
                case "length" -> (long) n;
                case "depth" -> 1L;
                case "depth0" -> 0L;
                case "previtem" -> index0 > 0 ? items.get(index0 - 1) : new Undefined("previtem");
                case "nextitem" -> index0 < n - 1 ? items.get(index0 + 1) : new Undefined("nextitem");
                case "cycle" -> (Callable) (in, args, kw) -> args.get(index0 % args.size());
                default -> new Undefined("loop." + name);
            };
        }
    }

    private final Map<String, Object> globals;

    Interpreter(Map<String, Object> globals) {
        this.globals = globals;
    }

    String render(List<Node> template, Map<String, Object> variables) {
        Frame root = new Frame(null);
        root.vars.putAll(globals);
        root.vars.putAll(variables);
        StringBuilder out = new StringBuilder();
        render(template, new Frame(root), out);
        return out.toString();
    }

    void render(List<Node> nodes, Frame frame, StringBuilder out) {
        for (Node node : nodes) {
            execute(node, frame, out);
        }
    }

    private void execute(Node node, Frame frame, StringBuilder out) {
        switch (node) {
            case Node.Text t -> out.append(t.text());
            case Node.Output o -> out.append(Py.str(eval(o.expr(), frame)));
            case Node.If i -> {
                for (int k = 0; k < i.conditions().size(); k++) {
                    if (Py.truthy(eval(i.conditions().get(k), frame))) {
                        render(i.bodies().get(k), frame, out);
                        return;
                    }
                }
                render(i.elseBody(), frame, out);
            }
            case Node.For f -> executeFor(f, frame, out);
            case Node.Set s -> {
                Object value = eval(s.value(), frame);
                if (s.attribute() != null) {
                    Object target = frame.lookup(s.targets().get(0));
                    if (!(target instanceof Namespace ns)) {
                        throw new TemplateException("cannot assign attribute '" + s.attribute() + "' on " + Py.typeName(target)
                                + " (only a namespace can be changed)");
                    }
                    ns.attributes.put(s.attribute(), value);
                } else {
                    assign(frame, s.targets(), value);
                }
            }
            case Node.SetBlock s -> {
                StringBuilder captured = new StringBuilder();
                render(s.body(), frame, captured);
                frame.vars.put(s.target(), captured.toString());
            }
            case Node.Macro m -> frame.vars.put(m.name(), new MacroValue(m, frame));
            case Node.CallBlock c -> {
                Frame inner = new Frame(frame);
                Node.Macro callerMacro = new Node.Macro("caller", List.of(), List.of(), c.body());
                inner.vars.put("caller", new MacroValue(callerMacro, frame));
                out.append(Py.str(eval(c.call(), inner)));
            }
            case Node.FilterBlock fb -> {
                StringBuilder captured = new StringBuilder();
                render(fb.body(), frame, captured);
                List<Object> args = new ArrayList<>();
                for (Node.Expr a : fb.args()) {
                    args.add(eval(a, frame));
                }
                out.append(Py.str(Filters.apply(this, fb.filter(), captured.toString(), args, Map.of())));
            }
            case Node.Generation g -> render(g.body(), frame, out);
            case Node.Break b -> throw new BreakSignal();
            case Node.Continue c -> throw new ContinueSignal();
            case Node.Expr e -> out.append(Py.str(eval(e, frame)));
        }
    }

    private void executeFor(Node.For f, Frame frame, StringBuilder out) {
        List<Object> items = new ArrayList<>();
        for (Object item : Py.iterate(eval(f.iterable(), frame))) {
            if (f.filter() == null) {
                items.add(item);
            } else {
                Frame test = new Frame(frame);
                assign(test, f.targets(), item);
                if (Py.truthy(eval(f.filter(), test))) {
                    items.add(item);
                }
            }
        }
        if (items.isEmpty()) {
            render(f.elseBody(), frame, out);
            return;
        }
        Loop loop = new Loop(items);
        for (int i = 0; i < items.size(); i++) {
            loop.index0 = i;
            Frame iteration = new Frame(frame);
            iteration.vars.put("loop", loop);
            assign(iteration, f.targets(), items.get(i));
            try {
                render(f.body(), iteration, out);
            } catch (ContinueSignal c) {
                // next iteration
            } catch (BreakSignal b) {
                break;
            }
        }
    }

    private static void assign(Frame frame, List<String> targets, Object value) {
        if (targets.size() == 1) {
            frame.vars.put(targets.get(0), value);
            return;
        }
        List<Object> parts = Py.iterate(value);
        if (parts.size() != targets.size()) {
            throw new TemplateException("cannot unpack " + parts.size() + " values into " + targets.size() + " names");
        }
        for (int i = 0; i < targets.size(); i++) {
            frame.vars.put(targets.get(i), parts.get(i));
        }
    }

    Object eval(Node.Expr expr, Frame frame) {
        return switch (expr) {
            case Node.Literal l -> l.value();
            case Node.Name n -> frame.lookup(n.name());
            case Node.Attr a -> attribute(eval(a.target(), frame), a.name());
            case Node.Item i -> item(eval(i.target(), frame), eval(i.key(), frame));
            case Node.Slice s -> Py.slice(eval(s.target(), frame), evalOrNull(s.start(), frame), evalOrNull(s.stop(), frame),
                    evalOrNull(s.step(), frame));
            case Node.Call c -> call(eval(c.function(), frame), evalAll(c.args(), frame), evalKwargs(c.kwargNames(), c.kwargValues(), frame));
            case Node.Filter f -> Filters.apply(this, f.name(), eval(f.target(), frame), evalAll(f.args(), frame),
                    evalKwargs(f.kwargNames(), f.kwargValues(), frame));
            case Node.Test t -> Tests.apply(this, t.name(), eval(t.target(), frame), evalAll(t.args(), frame)) != t.negated();
            case Node.Unary u -> u.op().equals("-") ? Py.negate(eval(u.operand(), frame)) : eval(u.operand(), frame);
            case Node.Binary b -> binary(b.op(), eval(b.left(), frame), eval(b.right(), frame));
            case Node.Compare c -> compare(c, frame);
            case Node.And a -> {
                Object left = eval(a.left(), frame);
                yield Py.truthy(left) ? eval(a.right(), frame) : left;
            }
            case Node.Or o -> {
                Object left = eval(o.left(), frame);
                yield Py.truthy(left) ? left : eval(o.right(), frame);
            }
            case Node.Not n -> !Py.truthy(eval(n.operand(), frame));
            case Node.Conditional c -> Py.truthy(eval(c.condition(), frame)) ? eval(c.then(), frame)
                    : c.otherwise() == null ? new Undefined("else") : eval(c.otherwise(), frame);
            case Node.ListLiteral l -> evalAll(l.items(), frame);
            case Node.TupleLiteral t -> new Tuple(evalAll(t.items(), frame));
            case Node.DictLiteral d -> {
                Map<Object, Object> m = new LinkedHashMap<>();
                for (int i = 0; i < d.keys().size(); i++) {
                    m.put(eval(d.keys().get(i), frame), eval(d.values().get(i), frame));
                }
                yield m;
            }
        };
    }

    private Object evalOrNull(Node.Expr e, Frame frame) {
        return e == null ? null : eval(e, frame);
    }

    private List<Object> evalAll(List<Node.Expr> exprs, Frame frame) {
        List<Object> out = new ArrayList<>(exprs.size());
        for (Node.Expr e : exprs) {
            out.add(eval(e, frame));
        }
        return out;
    }

    private Map<String, Object> evalKwargs(List<String> names, List<Node.Expr> values, Frame frame) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) {
            out.put(names.get(i), eval(values.get(i), frame));
        }
        return out;
    }

    Object call(Object function, List<Object> args, Map<String, Object> kwargs) {
        if (function instanceof Callable c) {
            return c.call(this, args, kwargs);
        }
        if (function instanceof Undefined u) {
            throw new TemplateException("'" + u.name() + "' is undefined");
        }
        throw new TemplateException("'" + Py.typeName(function) + "' object is not callable");
    }

    private Object binary(String op, Object a, Object b) {
        return switch (op) {
            case "+" -> Py.add(a, b);
            case "~" -> Py.str(a) + Py.str(b);
            default -> Py.arithmetic(op, a, b);
        };
    }

    private Object compare(Node.Compare c, Frame frame) {
        Object left = eval(c.first(), frame);
        for (int i = 0; i < c.ops().size(); i++) {
            Object right = eval(c.operands().get(i), frame);
            boolean ok = switch (c.ops().get(i)) {
                case "==" -> Py.eq(left, right);
                case "!=" -> !Py.eq(left, right);
                case "<" -> Py.compare(left, right) < 0;
                case ">" -> Py.compare(left, right) > 0;
                case "<=" -> Py.compare(left, right) <= 0;
                case ">=" -> Py.compare(left, right) >= 0;
                case "in" -> Py.contains(right, left);
                case "notin" -> !Py.contains(right, left);
                default -> throw new TemplateException("unknown comparison " + c.ops().get(i));
            };
            if (!ok) {
                return false;
            }
            left = right;
        }
        return true;
    }

    /** {@code obj.name}: a dict key, a loop or namespace attribute, or a method to call. */
    Object attribute(Object target, String name) {
        if (target instanceof Map<?, ?> m) {
            if (m.containsKey(name)) {
                return m.get(name);
            }
            return Methods.has(target, name) ? new BoundMethod(target, name) : new Undefined(name);
        }
        if (target instanceof Loop loop) {
            return loop.get(name);
        }
        if (target instanceof Namespace ns) {
            return ns.attributes.containsKey(name) ? ns.attributes.get(name) : new Undefined(name);
        }
        if (target instanceof Undefined) {
            return new Undefined(name);
        }
        if (target != null && Methods.has(target, name)) {
            return new BoundMethod(target, name);
        }
        return new Undefined(name);
    }

    /** {@code obj[key]}: list index (negative from the end), dict key, or attribute as a fallback. */
    Object item(Object target, Object key) {
        if (target instanceof List<?> l && Py.isInteger(key)) {
            long i = Py.toLong(key);
            if (i < 0) {
                i += l.size();
            }
            return i >= 0 && i < l.size() ? l.get((int) i) : new Undefined("[" + key + "]");
        }
        if (target instanceof String s && Py.isInteger(key)) {
            List<Object> chars = Py.iterate(s);
            long i = Py.toLong(key);
            if (i < 0) {
                i += chars.size();
            }
            return i >= 0 && i < chars.size() ? chars.get((int) i) : new Undefined("[" + key + "]");
        }
        if (target instanceof Map<?, ?> m) {
            if (m.containsKey(key)) {
                return m.get(key);
            }
            // JSON keys are strings; numbers from templates may look them up.
            if (key != null && !(key instanceof String) && m.containsKey(Py.str(key))) {
                return m.get(Py.str(key));
            }
            return new Undefined(Py.str(key));
        }
        if (key instanceof String name) {
            return attribute(target, name);
        }
        return new Undefined(Py.str(key));
    }

    /** Jinja's filters. */
    static final class Filters {

        private Filters() {
        }

        static Object apply(Interpreter in, String name, Object value, List<Object> args, Map<String, Object> kwargs) {
            switch (name) {
                case "tojson" -> {
                    Object indent = kwargs.getOrDefault("indent", args.isEmpty() ? null : args.get(0));
                    return Py.json(value, indent == null ? null : (int) Py.toLong(indent));
                }
                case "trim", "strip" -> {
                    return Methods.strip(Py.str(value), args.isEmpty() ? null : Py.str(args.get(0)), true, true);
                }
                case "length", "count" -> {
                    return Py.len(value);
                }
                case "string" -> {
                    return Py.str(value);
                }
                case "safe", "e", "escape", "forceescape" -> {
                    return name.equals("safe") ? value : htmlEscape(Py.str(value));
                }
                case "items" -> {
                    if (value instanceof Undefined) {
                        return List.of();
                    }
                    if (!(value instanceof Map<?, ?> m)) {
                        throw new TemplateException("items filter needs a mapping, got " + Py.typeName(value));
                    }
                    return itemsOf(m);
                }
                case "list" -> {
                    return Py.iterate(value);
                }
                case "first" -> {
                    List<Object> l = Py.iterate(value);
                    return l.isEmpty() ? new Undefined("first") : l.get(0);
                }
                case "last" -> {
                    List<Object> l = Py.iterate(value);
                    return l.isEmpty() ? new Undefined("last") : l.get(l.size() - 1);
                }
                case "reverse" -> {
                    if (value instanceof String s) {
                        return new StringBuilder(s).reverse().toString();
                    }
                    List<Object> l = Py.iterate(value);
                    java.util.Collections.reverse(l);
                    return l;
                }
                case "join" -> {
                    String sep = args.isEmpty() ? Py.str(kwargs.getOrDefault("d", "")) : Py.str(args.get(0));
                    Object attr = kwargs.get("attribute");
                    StringBuilder sb = new StringBuilder();
                    boolean first = true;
                    for (Object o : Py.iterate(value)) {
                        sb.append(first ? "" : sep).append(Py.str(attr == null ? o : in.attribute(o, Py.str(attr))));
                        first = false;
                    }
                    return sb.toString();
                }
                case "default", "d" -> {
                    Object fallback = args.isEmpty() ? "" : args.get(0);
                    boolean bool = args.size() > 1 ? Py.truthy(args.get(1)) : Py.truthy(kwargs.getOrDefault("boolean", false));
                    return value instanceof Undefined || (bool && !Py.truthy(value)) ? fallback : value;
                }
                case "upper" -> {
                    return Py.str(value).toUpperCase(Locale.ROOT);
                }
                case "lower" -> {
                    return Py.str(value).toLowerCase(Locale.ROOT);
                }
                case "title" -> {
                    return Methods.title(Py.str(value));
                }
                case "capitalize" -> {
                    return Methods.capitalize(Py.str(value));
                }
                case "replace" -> {
                    return Methods.call(in, Py.str(value), "replace", args, kwargs);
                }
                case "int" -> {
                    return toInt(value, args.isEmpty() ? 0L : args.get(0));
                }
                case "float" -> {
                    try {
                        return value instanceof String s ? Double.parseDouble(s.strip()) : Py.toDouble(value);
                    } catch (RuntimeException e) {
                        return args.isEmpty() ? 0.0 : args.get(0);
                    }
                }
                case "abs" -> {
                    return value instanceof Double d ? (Object) Math.abs(d) : (Object) Math.abs(Py.toLong(value));
                }
                case "round" -> {
                    int precision = args.isEmpty() ? 0 : (int) Py.toLong(args.get(0));
                    double scale = Math.pow(10, precision);
                    return Math.round(Py.toDouble(value) * scale) / scale;
                }
                case "indent" -> {
                    int width = args.isEmpty() ? (int) Py.toLong(kwargs.getOrDefault("width", 4L)) : (int) Py.toLong(args.get(0));
                    boolean first = args.size() > 1 ? Py.truthy(args.get(1)) : Py.truthy(kwargs.getOrDefault("first", false));
                    boolean blank = args.size() > 2 ? Py.truthy(args.get(2)) : Py.truthy(kwargs.getOrDefault("blank", false));
                    return indent(Py.str(value), width, first, blank);
                }
                case "select", "reject" -> {
                    List<Object> out = new ArrayList<>();
                    for (Object o : Py.iterate(value)) {
                        boolean pass = args.isEmpty() ? Py.truthy(o) : Tests.apply(in, Py.str(args.get(0)), o, args.subList(1, args.size()));
                        if (pass == name.equals("select")) {
                            out.add(o);
                        }
                    }
                    return out;
                }
                case "selectattr", "rejectattr" -> {
                    String attr = Py.str(args.get(0));
                    List<Object> out = new ArrayList<>();
                    for (Object o : Py.iterate(value)) {
                        Object a = in.attribute(o, attr);
                        boolean pass = args.size() < 2 ? Py.truthy(a) : Tests.apply(in, Py.str(args.get(1)), a, args.subList(2, args.size()));
                        if (pass == name.equals("selectattr")) {
                            out.add(o);
                        }
                    }
                    return out;
                }
                case "map" -> {
                    List<Object> out = new ArrayList<>();
                    for (Object o : Py.iterate(value)) {
                        if (kwargs.containsKey("attribute")) {
                            Object a = in.attribute(o, Py.str(kwargs.get("attribute")));
                            out.add(a instanceof Undefined && kwargs.containsKey("default") ? kwargs.get("default") : a);
                        } else {
                            out.add(apply(in, Py.str(args.get(0)), o, args.subList(1, args.size()), Map.of()));
                        }
                    }
                    return out;
                }
                case "unique" -> {
                    return new ArrayList<>(new LinkedHashSet<>(Py.iterate(value)));
                }
                case "sort" -> {
                    List<Object> l = Py.iterate(value);
                    Object attr = kwargs.get("attribute");
                    l.sort((a, b) -> Py.compare(attr == null ? a : in.attribute(a, Py.str(attr)), attr == null ? b : in.attribute(b, Py.str(attr))));
                    if (Py.truthy(kwargs.getOrDefault("reverse", args.isEmpty() ? false : args.get(0)))) {
                        java.util.Collections.reverse(l);
                    }
                    return l;
                }
                case "dictsort" -> {
                    List<Object> l = itemsOf((Map<?, ?>) value);
                    l.sort((a, b) -> Py.compare(((List<?>) a).get(0), ((List<?>) b).get(0)));
                    return l;
                }
                case "sum" -> {
                    Object total = kwargs.getOrDefault("start", 0L);
                    for (Object o : Py.iterate(value)) {
                        total = Py.add(total, kwargs.containsKey("attribute") ? in.attribute(o, Py.str(kwargs.get("attribute"))) : o);
                    }
                    return total;
                }
                case "min", "max" -> {
                    List<Object> l = Py.iterate(value);
                    if (l.isEmpty()) {
                        return new Undefined(name);
                    }
                    Object best = l.get(0);
                    for (Object o : l) {
                        int c = Py.compare(o, best);
                        if (name.equals("min") ? c < 0 : c > 0) {
                            best = o;
                        }
                    }
                    return best;
                }
                case "wordcount" -> {
                    String s = Py.str(value).strip();
                    return s.isEmpty() ? 0L : (long) s.split("\\s+").length;
                }
                case "center" -> {
                    return Methods.call(in, Py.str(value), "center", args.isEmpty() ? List.of(80L) : args, kwargs);
                }
                case "format" -> {
                    return Py.arithmetic("%", Py.str(value), new Tuple(args));
                }
                default -> throw new TemplateException("no filter named '" + name + "'");
            }
        }

        static List<Object> itemsOf(Map<?, ?> m) {
            List<Object> out = new ArrayList<>();
            for (Map.Entry<?, ?> e : m.entrySet()) {
                out.add(new Tuple(java.util.Arrays.asList(e.getKey(), e.getValue())));
            }
            return out;
        }

        private static Object toInt(Object value, Object fallback) {
            try {
                if (value instanceof String s) {
                    String t = s.strip();
                    return t.contains(".") ? (long) Double.parseDouble(t) : Long.parseLong(t);
                }
                return Py.toLong(value);
            } catch (RuntimeException e) {
                return fallback;
            }
        }

        /** Jinja2's indent: every line but the first (unless first=True), blank lines only if blank=True. */
        static String indent(String s, int width, boolean first, boolean blank) {
            String pad = " ".repeat(width);
            List<String> lines = Methods.splitlines(s + "\n");
            StringBuilder rv = new StringBuilder();
            if (blank) {
                rv.append(String.join("\n" + pad, lines));
            } else {
                rv.append(lines.isEmpty() ? "" : lines.get(0));
                for (int i = 1; i < lines.size(); i++) {
                    rv.append('\n').append(lines.get(i).isEmpty() ? "" : pad + lines.get(i));
                }
            }
            return first ? pad + rv : rv.toString();
        }

        private static String htmlEscape(String s) {
            return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&#34;").replace("'", "&#39;");
        }
    }

    /** Jinja's tests ({@code x is defined}). */
    static final class Tests {

        private Tests() {
        }

        static boolean apply(Interpreter in, String name, Object v, List<Object> args) {
            return switch (name) {
                case "defined" -> !(v instanceof Undefined);
                case "undefined" -> v instanceof Undefined;
                case "none" -> v == null;
                case "string" -> v instanceof String;
                case "number" -> Py.isNumber(v) && !(v instanceof Boolean);
                case "integer" -> Py.isInteger(v);
                case "float" -> v instanceof Double;
                case "boolean" -> v instanceof Boolean;
                case "true" -> Boolean.TRUE.equals(v);
                case "false" -> Boolean.FALSE.equals(v);
                case "mapping" -> v instanceof Map;
                case "sequence" -> v instanceof List || v instanceof String;
                case "iterable" -> v instanceof List || v instanceof String || v instanceof Map || v instanceof java.util.Collection;
                case "callable" -> v instanceof Callable;
                case "equalto", "eq", "==", "sameas" -> Py.eq(v, args.get(0));
                case "ne", "!=" -> !Py.eq(v, args.get(0));
                case "lt", "lessthan", "<" -> Py.compare(v, args.get(0)) < 0;
                case "gt", "greaterthan", ">" -> Py.compare(v, args.get(0)) > 0;
                case "le", "<=" -> Py.compare(v, args.get(0)) <= 0;
                case "ge", ">=" -> Py.compare(v, args.get(0)) >= 0;
                case "in" -> Py.contains(args.get(0), v);
                case "odd" -> Py.toLong(v) % 2 != 0;
                case "even" -> Py.toLong(v) % 2 == 0;
                case "divisibleby" -> Py.toLong(v) % Py.toLong(args.get(0)) == 0;
                case "lower" -> v instanceof String s && s.equals(s.toLowerCase(Locale.ROOT));
                case "upper" -> v instanceof String s && s.equals(s.toUpperCase(Locale.ROOT));
                default -> throw new TemplateException("no test named '" + name + "'");
            };
        }
    }
}
