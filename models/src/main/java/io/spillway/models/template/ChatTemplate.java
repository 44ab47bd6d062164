package io.spillway.models.template;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Clock;
import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A Hugging Face chat template, compiled once and rendered as
 * {@code transformers.apply_chat_template(..., tokenize=False)} renders it: Jinja2 with
 * {@code trim_blocks} and {@code lstrip_blocks}, the loop-controls extension, transformers'
 * {@code {% generation %}} tag, and its globals {@code raise_exception}, {@code strftime_now} and
 * a {@code tojson} that writes JSON as Python's {@code json.dumps} does (no HTML escaping, keys in
 * order, non-ASCII kept). Thread-safe: rendering keeps no state in the template.
 */
public final class ChatTemplate {

    private final List<Node> body;
    private final String source;

    private ChatTemplate(String source, List<Node> body) {
        this.source = source;
        this.body = body;
    }

    /** @throws TemplateException if the template does not parse */
    public static ChatTemplate compile(String source) {
        return new ChatTemplate(source, Parser.parse(source));
    }

    public String source() {
        return source;
    }

    /**
     * @param variables messages, tools, documents, add_generation_prompt, special tokens and any
     *                  extra template arguments, as plain Java values (see {@link #fromJson})
     * @param clock     the time strftime_now reads (the system clock in production, pinned in tests)
     * @throws TemplateException on a rendering error or the template's own raise_exception
     */
    public String render(Map<String, Object> variables, Clock clock) {
        Map<String, Object> globals = new LinkedHashMap<>();
        globals.put("raise_exception", (Interpreter.Callable) (in, args, kw) -> {
            throw new TemplateException(args.isEmpty() ? "raise_exception called" : Py.str(args.get(0)), true);
        });
        globals.put("strftime_now", (Interpreter.Callable) (in, args, kw) -> strftime(Py.str(args.get(0)), ZonedDateTime.now(clock)));
        globals.put("namespace", (Interpreter.Callable) (in, args, kw) -> {
            Py.Namespace ns = new Py.Namespace();
            for (Object a : args) {
                if (a instanceof Map<?, ?> m) {
                    m.forEach((k, v) -> ns.attributes.put(Py.str(k), v));
                }
            }
            ns.attributes.putAll(kw);
            return ns;
        });
        globals.put("range", (Interpreter.Callable) (in, args, kw) -> {
            long start = args.size() > 1 ? Py.toLong(args.get(0)) : 0;
            long stop = Py.toLong(args.get(args.size() > 1 ? 1 : 0));
            long step = args.size() > 2 ? Py.toLong(args.get(2)) : 1;
            List<Object> out = new ArrayList<>();
            for (long i = start; step > 0 ? i < stop : i > stop; i += step) {
                out.add(i);
            }
            return out;
        });
        globals.put("dict", (Interpreter.Callable) (in, args, kw) -> {
            Map<Object, Object> m = new LinkedHashMap<>();
            if (!args.isEmpty() && args.get(0) instanceof Map<?, ?> base) {
                m.putAll(base);
            }
            m.putAll(kw);
            return m;
        });
        return new Interpreter(globals).render(body, variables);
    }

    /** JSON (a request body, a test case) as template values: objects keep their key order. */
    public static Object fromJson(JsonNode node) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return null;
        }
        if (node.isTextual()) {
            return node.asText();
        }
        if (node.isBoolean()) {
            return node.asBoolean();
        }
        if (node.isIntegralNumber()) {
            return node.asLong();
        }
        if (node.isNumber()) {
            return node.asDouble();
        }
        if (node.isArray()) {
            List<Object> out = new ArrayList<>(node.size());
            node.forEach(n -> out.add(fromJson(n)));
            return out;
        }
        Map<Object, Object> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            out.put(e.getKey(), fromJson(e.getValue()));
        }
        return out;
    }

    /** Python's time.strftime for the directives templates use, in English as Python's C locale. */
    static String strftime(String format, ZonedDateTime t) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 >= format.length()) {
                out.append(c);
                continue;
            }
            char d = format.charAt(++i);
            boolean unpadded = false;
            if (d == '-' && i + 1 < format.length()) {
                unpadded = true;
                d = format.charAt(++i);
            }
            String value = switch (d) {
                case 'Y' -> Integer.toString(t.getYear());
                case 'y' -> two(t.getYear() % 100);
                case 'm' -> two(t.getMonthValue());
                case 'd' -> two(t.getDayOfMonth());
                case 'e' -> String.format("%2d", t.getDayOfMonth());
                case 'B' -> t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
                case 'b', 'h' -> t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
                case 'A' -> t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
                case 'a' -> t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
                case 'H' -> two(t.getHour());
                case 'I' -> two(t.getHour() % 12 == 0 ? 12 : t.getHour() % 12);
                case 'M' -> two(t.getMinute());
                case 'S' -> two(t.getSecond());
                case 'p' -> t.getHour() < 12 ? "AM" : "PM";
                case 'j' -> String.format("%03d", t.getDayOfYear());
                case 'Z' -> t.getZone().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
                case 'z' -> t.getOffset().getId().replace(":", "").replace("Z", "+0000");
                case '%' -> "%";
                default -> "%" + d;
            };
            if (unpadded && value.length() > 1 && (value.charAt(0) == '0' || value.charAt(0) == ' ')) {
                value = value.substring(1);
            }
            out.append(value);
        }
        return out.toString();
    }

    private static String two(int n) {
        return n < 10 ? "0" + n : Integer.toString(n);
    }
}
