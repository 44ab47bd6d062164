package io.spillway.models.runtime;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a TorchScript source declares, read from its text: each class's {@code forward} parameters
 * and each {@code Enum}'s members. libtorch keeps no schema that DJL can read back, and the text
 * is exactly what it compiles, so this is where Java checks that the script takes what Java passes
 * ({@link #requireForward}) and names the values Java names ({@link #requireEnum}).
 *
 * <p>It reads the serialized-code dialect TorchScriptModule compiles: a class header at the start
 * of a line, its body indented, a method's signature possibly spanning lines up to {@code ) ->}.
 */
public final class ScriptDeclarations {

    private static final Pattern ENUM_MEMBER = Pattern.compile("^\\s+(\\w+)\\s*=\\s*(-?\\d+)\\s*(#.*)?$");

    private final String name;
    private final List<String> lines;

    /** @param name how messages name the script, e.g. its file name */
    public ScriptDeclarations(String name, String source) {
        this.name = name;
        this.lines = source.lines().toList();
    }

    /** The parameters of {@code className.forward}, without {@code self}, types as written but for spacing. */
    public List<ScriptParameter> forwardParameters(String className) {
        int line = classLine(className, "Module");
        StringBuilder signature = new StringBuilder();
        for (int i = line + 1; i < lines.size() && isIndented(lines.get(i)); i++) {
            if (signature.isEmpty() && !lines.get(i).strip().startsWith("def forward(")) {
                continue;
            }
            signature.append(lines.get(i).strip()).append(' ');
            if (lines.get(i).contains(") ->")) {
                String text = signature.toString();
                return parameters(text.substring(text.indexOf('(') + 1, text.lastIndexOf(") ->")));
            }
        }
        throw new IllegalStateException(name + ": class " + className + " declares no forward method");
    }

    /** The members of {@code enumName}, in declaration order. */
    public Map<String, Long> enumMembers(String enumName) {
        Map<String, Long> members = new LinkedHashMap<>();
        for (int i = classLine(enumName, "Enum") + 1; i < lines.size() && isIndented(lines.get(i)); i++) {
            Matcher m = ENUM_MEMBER.matcher(lines.get(i));
            if (m.matches()) {
                members.put(m.group(1), Long.parseLong(m.group(2)));
            }
        }
        return members;
    }

    /**
     * Fails, naming the first parameter that differs, unless {@code className.forward} takes exactly
     * {@code expected}, in order, with the same names and types.
     *
     * @param javaSide what declares {@code expected}, for the message
     */
    public void requireForward(String className, List<ScriptParameter> expected, String javaSide) {
        List<ScriptParameter> declared = forwardParameters(className);
        for (int i = 0; i < Math.max(declared.size(), expected.size()); i++) {
            ScriptParameter script = i < declared.size() ? declared.get(i) : null;
            ScriptParameter java = i < expected.size() ? expected.get(i) : null;
            if (script == null || java == null || !script.name().equals(java.name())
                    || !compact(script.type()).equals(compact(java.type()))) {
                throw new IllegalStateException(name + ": " + className + ".forward and " + javaSide + " disagree at parameter "
                        + (i + 1) + ": the script declares " + (script == null ? "nothing" : "`" + script + "`")
                        + ", Java passes " + (java == null ? "nothing" : "`" + java + "`")
                        + (script != null && java != null ? typeDifference(script.type(), java.type()) : ""));
            }
        }
    }

    /** Fails, naming the member that differs, unless the script's Enum of the same simple name has {@code values}' names and ordinals. */
    public void requireEnum(Class<? extends Enum<?>> values) {
        Map<String, Long> declared = enumMembers(values.getSimpleName());
        Map<String, Long> java = new LinkedHashMap<>();
        for (Enum<?> e : values.getEnumConstants()) {
            java.put(e.name(), (long) e.ordinal());
        }
        if (!declared.equals(java)) {
            throw new IllegalStateException(name + ": Enum " + values.getSimpleName() + " is " + declared + " in the script but "
                    + java + " in Java's " + values.getName() + " (the value passed is the Java constant's ordinal)");
        }
    }

    private int classLine(String className, String base) {
        String header = "class " + className + "(" + base + "):";
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).startsWith(header)) {
                return i;
            }
        }
        throw new IllegalStateException(name + " declares no `" + header + "`");
    }

    private static boolean isIndented(String line) {
        return line.isBlank() || Character.isWhitespace(line.charAt(0));
    }

    /** Splits {@code self: T, a: List[Tuple[X, Y]], ...} at top-level commas, dropping {@code self}. */
    private static List<ScriptParameter> parameters(String list) {
        List<ScriptParameter> out = new ArrayList<>();
        int depth = 0;
        int start = 0;
        for (int i = 0; i <= list.length(); i++) {
            char c = i < list.length() ? list.charAt(i) : ',';
            if (c == '[') {
                depth++;
            } else if (c == ']') {
                depth--;
            } else if (c == ',' && depth == 0) {
                String p = list.substring(start, i).strip();
                int colon = p.indexOf(':');
                if (!p.isEmpty()) {
                    out.add(new ScriptParameter(p.substring(0, colon).strip(), p.substring(colon + 1).strip()));
                }
                start = i + 1;
            }
        }
        return out.isEmpty() ? out : out.subList(1, out.size());
    }

    private static String compact(String type) {
        return type.replaceAll("\\s+", "");
    }

    /** Where two long tuple types part, so that a message about a nine-element tuple is readable. */
    private static String typeDifference(String script, String java) {
        String a = compact(script);
        String b = compact(java);
        int i = 0;
        while (i < a.length() && i < b.length() && a.charAt(i) == b.charAt(i)) {
            i++;
        }
        return a.equals(b) || i == 0 ? "" : " (the types part after `" + a.substring(0, i) + "`)";
    }
}
