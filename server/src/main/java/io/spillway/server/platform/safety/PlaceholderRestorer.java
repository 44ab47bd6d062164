package io.spillway.server.platform.safety;

import io.spillway.server.generation.RewrittenText;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Puts the values back in a streamed answer whose request was pseudonymized: every placeholder of
 * the conversation ({@code <EMAIL_1>}) becomes its value, wherever the stream splits it. Text is
 * released up to the last {@code '<'} that could still begin a placeholder, so at most one
 * placeholder's length is ever held back; a placeholder the conversation never handed out passes
 * as it is.
 */
public final class PlaceholderRestorer implements RewrittenText.Rewriter {

    static final Pattern PLACEHOLDER = Pattern.compile("<([A-Z]+(?:_[A-Z]+)*)_([1-9][0-9]{0,8})>");
    /** Longer than any placeholder: {@code <AWS_KEY_999999999>} is 19 characters. */
    private static final int LONGEST = 24;

    private final Map<String, String> values;
    private final UnaryOperator<String> escape;
    private final StringBuilder pending = new StringBuilder();

    /**
     * @param values placeholder to value
     * @param escape how a value is written into this part: as it is in text, quoted into a JSON
     *               string in a tool call's arguments
     */
    public PlaceholderRestorer(Map<String, String> values, UnaryOperator<String> escape) {
        this.values = Map.copyOf(values);
        this.escape = escape;
    }

    @Override
    public String add(String piece) {
        pending.append(piece);
        int hold = pending.lastIndexOf("<");
        if (hold < 0 || !couldBegin(hold)) {
            return release(pending.length());
        }
        return release(hold);
    }

    @Override
    public String flush() {
        return release(pending.length());
    }

    /** Whether the text from {@code at} (a '<') to the end may still grow into a placeholder. */
    private boolean couldBegin(int at) {
        int length = pending.length() - at;
        if (length > LONGEST) {
            return false;
        }
        for (int i = at + 1; i < pending.length(); i++) {
            char c = pending.charAt(i);
            boolean ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    private String release(int upTo) {
        if (upTo == 0) {
            return "";
        }
        String part = pending.substring(0, upTo);
        pending.delete(0, upTo);
        if (part.indexOf('<') < 0) {
            return part;
        }
        Matcher m = PLACEHOLDER.matcher(part);
        StringBuilder out = new StringBuilder(part.length());
        int at = 0;
        while (m.find()) {
            String value = values.get(m.group());
            if (value != null) {
                out.append(part, at, m.start()).append(escape.apply(value));
                at = m.end();
            }
        }
        return out.append(part, at, part.length()).toString();
    }
}
