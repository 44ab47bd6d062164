package io.spillway.models.template;

import io.spillway.models.template.Py.Tuple;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The Python methods templates call on strings, dicts and lists ({@code content.split('</think>')},
 * {@code message.content.startswith(...)}, {@code tool.items()}), with Python's exact semantics:
 * {@code split()} on whitespace runs, {@code strip(chars)}, {@code title()} after any non-letter.
 * The sandbox is immutable, as transformers' is: no method changes its object.
 */
final class Methods {

    private static final Set<String> STRING = Set.of("strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith",
            "endswith", "replace", "upper", "lower", "title", "capitalize", "swapcase", "find", "rfind", "index", "count", "join",
            "format", "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower", "zfill", "center", "ljust", "rjust",
            "removeprefix", "removesuffix", "partition", "rpartition");
    private static final Set<String> DICT = Set.of("items", "keys", "values", "get");
    private static final Set<String> LIST = Set.of("index", "count");

    private Methods() {
    }

    static boolean has(Object target, String name) {
        if (target instanceof String) {
            return STRING.contains(name);
        }
        if (target instanceof Map) {
            return DICT.contains(name);
        }
        if (target instanceof List) {
            return LIST.contains(name);
        }
        return false;
    }

    static Object call(Interpreter in, Object self, String name, List<Object> args, Map<String, Object> kwargs) {
        if (self instanceof Map<?, ?> m) {
            return switch (name) {
                case "items" -> Interpreter.Filters.itemsOf(m);
                case "keys" -> new ArrayList<Object>(m.keySet());
                case "values" -> new ArrayList<Object>(m.values());
                case "get" -> m.containsKey(args.get(0)) ? m.get(args.get(0)) : args.size() > 1 ? args.get(1) : null;
                default -> throw new TemplateException("dict has no method " + name);
            };
        }
        if (self instanceof List<?> l) {
            return switch (name) {
                case "index" -> {
                    for (int i = 0; i < l.size(); i++) {
                        if (Py.eq(l.get(i), args.get(0))) {
                            yield (long) i;
                        }
                    }
                    throw new TemplateException(Py.repr(args.get(0)) + " is not in list");
                }
                case "count" -> l.stream().filter(o -> Py.eq(o, args.get(0))).count();
                default -> throw new TemplateException("list has no method " + name);
            };
        }
        String s = (String) self;
        return switch (name) {
            case "strip" -> strip(s, charsArg(args), true, true);
            case "lstrip" -> strip(s, charsArg(args), true, false);
            case "rstrip" -> strip(s, charsArg(args), false, true);
            case "split" -> split(s, args.isEmpty() || args.get(0) == null ? null : Py.str(args.get(0)),
                    args.size() > 1 ? (int) Py.toLong(args.get(1)) : (int) Py.toLong(kwargs.getOrDefault("maxsplit", -1L)));
            case "rsplit" -> rsplit(s, args.isEmpty() || args.get(0) == null ? null : Py.str(args.get(0)),
                    args.size() > 1 ? (int) Py.toLong(args.get(1)) : (int) Py.toLong(kwargs.getOrDefault("maxsplit", -1L)));
            case "splitlines" -> new ArrayList<Object>(splitlines(s));
            case "startswith" -> affix(s, args.get(0), true);
            case "endswith" -> affix(s, args.get(0), false);
            case "replace" -> replace(s, Py.str(args.get(0)), Py.str(args.get(1)), args.size() > 2 ? Py.toLong(args.get(2)) : -1);
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            case "title" -> title(s);
            case "capitalize" -> capitalize(s);
            case "swapcase" -> swapcase(s);
            case "find" -> (long) s.indexOf(Py.str(args.get(0)));
            case "rfind" -> (long) s.lastIndexOf(Py.str(args.get(0)));
            case "index" -> {
                int i = s.indexOf(Py.str(args.get(0)));
                if (i < 0) {
                    throw new TemplateException("substring not found");
                }
                yield (long) i;
            }
            case "count" -> count(s, Py.str(args.get(0)));
            case "join" -> {
                StringBuilder sb = new StringBuilder();
                boolean first = true;
                for (Object o : Py.iterate(args.get(0))) {
                    sb.append(first ? "" : s).append(Py.str(o));
                    first = false;
                }
                yield sb.toString();
            }
            case "format" -> format(s, args, kwargs);
            case "isdigit" -> !s.isEmpty() && s.chars().allMatch(Character::isDigit);
            case "isalpha" -> !s.isEmpty() && s.chars().allMatch(Character::isLetter);
            case "isalnum" -> !s.isEmpty() && s.chars().allMatch(Character::isLetterOrDigit);
            case "isspace" -> !s.isEmpty() && s.chars().allMatch(Character::isWhitespace);
            case "isupper" -> s.chars().anyMatch(Character::isLetter) && s.equals(s.toUpperCase(Locale.ROOT));
            case "islower" -> s.chars().anyMatch(Character::isLetter) && s.equals(s.toLowerCase(Locale.ROOT));
            case "zfill" -> {
                int width = (int) Py.toLong(args.get(0));
                yield s.length() >= width ? s : "0".repeat(width - s.length()) + s;
            }
            case "center", "ljust", "rjust" -> {
                int width = (int) Py.toLong(args.get(0));
                String fill = args.size() > 1 ? Py.str(args.get(1)) : " ";
                int total = Math.max(0, width - s.length());
                int left = name.equals("ljust") ? 0 : name.equals("rjust") ? total : total / 2 + (total & width & 1);
                yield fill.repeat(left) + s + fill.repeat(total - left);
            }
            case "removeprefix" -> s.startsWith(Py.str(args.get(0))) ? s.substring(Py.str(args.get(0)).length()) : s;
            case "removesuffix" -> s.endsWith(Py.str(args.get(0))) && !Py.str(args.get(0)).isEmpty()
                    ? s.substring(0, s.length() - Py.str(args.get(0)).length()) : s;
            case "partition", "rpartition" -> {
                String sep = Py.str(args.get(0));
                int i = name.equals("partition") ? s.indexOf(sep) : s.lastIndexOf(sep);
                yield i < 0 ? (name.equals("partition") ? new Tuple(List.of(s, "", "")) : new Tuple(List.of("", "", s)))
                        : new Tuple(List.of(s.substring(0, i), sep, s.substring(i + sep.length())));
            }
            default -> throw new TemplateException("str has no method " + name);
        };
    }

    private static String charsArg(List<Object> args) {
        return args.isEmpty() || args.get(0) == null ? null : Py.str(args.get(0));
    }

    static String strip(String s, String chars, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        if (left) {
            while (start < end && stripped(s.charAt(start), chars)) {
                start++;
            }
        }
        if (right) {
            while (end > start && stripped(s.charAt(end - 1), chars)) {
                end--;
            }
        }
        return s.substring(start, end);
    }

    private static boolean stripped(char c, String chars) {
        return chars == null ? isPythonSpace(c) : chars.indexOf(c) >= 0;
    }

    /** Python's str.isspace() characters. */
    static boolean isPythonSpace(char c) {
        return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\u001c' && c <= '\u001f') || c == '\u0085' || c == '\u00a0'
                || Character.isSpaceChar(c);
    }

    static List<Object> split(String s, String sep, int maxsplit) {
        List<Object> out = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && isPythonSpace(s.charAt(i))) {
                    i++;
                }
                if (i >= n) {
                    break;
                }
                if (maxsplit >= 0 && out.size() == maxsplit) {
                    out.add(strip(s.substring(i), null, false, true));
                    break;
                }
                int j = i;
                while (j < n && !isPythonSpace(s.charAt(j))) {
                    j++;
                }
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        if (sep.isEmpty()) {
            throw new TemplateException("empty separator");
        }
        int from = 0;
        while (maxsplit < 0 || out.size() < maxsplit) {
            int at = s.indexOf(sep, from);
            if (at < 0) {
                break;
            }
            out.add(s.substring(from, at));
            from = at + sep.length();
        }
        out.add(s.substring(from));
        return out;
    }

    private static List<Object> rsplit(String s, String sep, int maxsplit) {
        if (maxsplit < 0 || sep == null) {
            return split(s, sep, maxsplit);
        }
        List<Object> out = new ArrayList<>();
        int end = s.length();
        while (out.size() < maxsplit) {
            int at = s.lastIndexOf(sep, end - sep.length());
            if (at < 0) {
                break;
            }
            out.add(0, s.substring(at + sep.length(), end));
            end = at;
        }
        out.add(0, s.substring(0, end));
        return out;
    }

    /** Python's str.splitlines() (without keepends). */
    static List<String> splitlines(String s) {
        List<String> out = new ArrayList<>();
        int start = 0;
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == '\n' || c == '\r' || c == '\u000b' || c == '\u000c' || c == '\u001c' || c == '\u001d' || c == '\u001e'
                    || c == '\u0085' || c == '\u2028' || c == '\u2029') {
                out.add(s.substring(start, i));
                if (c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n') {
                    i++;
                }
                start = i + 1;
            }
            i++;
        }
        if (start < s.length()) {
            out.add(s.substring(start));
        }
        return out;
    }

    private static boolean affix(String s, Object arg, boolean prefix) {
        if (arg instanceof List<?> options) {
            for (Object o : options) {
                if (prefix ? s.startsWith(Py.str(o)) : s.endsWith(Py.str(o))) {
                    return true;
                }
            }
            return false;
        }
        return prefix ? s.startsWith(Py.str(arg)) : s.endsWith(Py.str(arg));
    }

    private static String replace(String s, String old, String replacement, long count) {
        if (count < 0) {
            return old.isEmpty() ? insertEverywhere(s, replacement) : s.replace(old, replacement);
        }
        StringBuilder sb = new StringBuilder();
        int from = 0;
        for (long n = 0; n < count; n++) {
            int at = s.indexOf(old, from);
            if (at < 0) {
                break;
            }
            sb.append(s, from, at).append(replacement);
            from = at + old.length();
        }
        return sb.append(s.substring(from)).toString();
    }

    private static String insertEverywhere(String s, String insert) {
        StringBuilder sb = new StringBuilder(insert);
        for (int i = 0; i < s.length(); i++) {
            sb.append(s.charAt(i)).append(insert);
        }
        return sb.toString();
    }

    private static long count(String s, String sub) {
        if (sub.isEmpty()) {
            return s.length() + 1L;
        }
        long n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) {
            n++;
        }
        return n;
    }

    /** Python's str.title(): a letter after a non-letter is upper-cased, every other letter lower-cased. */
    static String title(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        boolean previousCased = false;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            boolean cased = Character.isUpperCase(cp) || Character.isLowerCase(cp) || Character.isTitleCase(cp);
            sb.appendCodePoint(cased ? (previousCased ? Character.toLowerCase(cp) : Character.toTitleCase(cp)) : cp);
            previousCased = cased;
        }
        return sb.toString();
    }

    static String capitalize(String s) {
        if (s.isEmpty()) {
            return s;
        }
        int first = s.codePointAt(0);
        return new StringBuilder().appendCodePoint(Character.toTitleCase(first))
                .append(s.substring(Character.charCount(first)).toLowerCase(Locale.ROOT)).toString();
    }

    private static String swapcase(String s) {
        StringBuilder sb = new StringBuilder();
        s.codePoints().forEach(cp -> sb.appendCodePoint(Character.isUpperCase(cp) ? Character.toLowerCase(cp) : Character.toUpperCase(cp)));
        return sb.toString();
    }

    /** str.format with {}, {0} and {name} fields (no format specs beyond plain substitution). */
    private static String format(String s, List<Object> args, Map<String, Object> kwargs) {
        StringBuilder out = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '{' && i + 1 < s.length() && s.charAt(i + 1) == '{') {
                out.append('{');
                i++;
            } else if (c == '}' && i + 1 < s.length() && s.charAt(i + 1) == '}') {
                out.append('}');
                i++;
            } else if (c == '{') {
                int end = s.indexOf('}', i);
                String field = s.substring(i + 1, end).split(":", 2)[0];
                Object value = field.isEmpty() ? args.get(auto++) : field.chars().allMatch(Character::isDigit)
                        ? args.get(Integer.parseInt(field)) : kwargs.get(field);
                out.append(Py.str(value));
                i = end;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }
}
