package io.spillway.models.template;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits a template into text, {@code {{ expression }}} and {@code {% statement %}} pieces, applying
 * Jinja2's whitespace control as transformers configures it: {@code trim_blocks} (the newline after
 * a block or comment tag is dropped), {@code lstrip_blocks} (spaces and tabs before a block or
 * comment tag at the start of a line are dropped), {@code -} (strip all whitespace on that side)
 * and {@code +} (keep it). Comments vanish; {@code raw} blocks become text.
 */
final class Lexer {

    enum Kind { TEXT, EXPRESSION, STATEMENT }

    record Piece(Kind kind, String source, int line) {
    }

    private final String src;
    private final List<Piece> pieces = new ArrayList<>();
    private int pos;

    private Lexer(String src) {
        this.src = src;
    }

    static List<Piece> lex(String source) {
        Lexer lexer = new Lexer(source);
        lexer.run();
        return lexer.pieces;
    }

    private void run() {
        boolean stripNextText = false;
        while (pos < src.length()) {
            int tag = nextTag(pos);
            String text = src.substring(pos, tag < 0 ? src.length() : tag);
            if (stripNextText) {
                text = lstripAll(text);
                stripNextText = false;
            }
            if (tag < 0) {
                addText(text);
                break;
            }
            char kind = src.charAt(tag + 1);
            char sign = tag + 2 < src.length() ? src.charAt(tag + 2) : ' ';
            boolean lineStart = pos == 0 || src.charAt(pos - 1) == '\n';
            if (sign == '-') {
                text = rstripAll(text);
            } else if (sign != '+' && kind != '{') {
                int lineBegin = text.lastIndexOf('\n') + 1;
                if ((lineBegin > 0 || lineStart) && lineBegin < text.length() && isBlank(text, lineBegin)) {
                    text = text.substring(0, lineBegin);
                }
            }
            addText(text);
            int bodyStart = tag + 2 + (sign == '-' || sign == '+' ? 1 : 0);
            String close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
            int end = findClose(bodyStart, close, kind != '#');
            if (end < 0) {
                throw new TemplateException("unclosed '" + src.substring(tag, tag + 2) + "' at line " + line(tag));
            }
            char closeSign = end > bodyStart ? src.charAt(end - 1) : ' ';
            int bodyEnd = closeSign == '-' || closeSign == '+' ? end - 1 : end;
            String body = src.substring(bodyStart, Math.max(bodyStart, bodyEnd)).strip();
            pos = end + 2;
            if (closeSign == '-') {
                stripNextText = true;
            } else if (closeSign != '+' && kind != '{') {
                // trim_blocks: drop the first newline after a block or comment tag.
                if (src.startsWith("\r\n", pos)) {
                    pos += 2;
                } else if (pos < src.length() && src.charAt(pos) == '\n') {
                    pos++;
                }
            }
            if (kind == '{') {
                pieces.add(new Piece(Kind.EXPRESSION, body, line(tag)));
            } else if (kind == '%') {
                if (body.equals("raw")) {
                    stripNextText = readRaw();
                } else {
                    pieces.add(new Piece(Kind.STATEMENT, body, line(tag)));
                }
            }
        }
    }

    /** The text up to {@code {% endraw %}}, verbatim. Returns whether it ended with {@code -%}}. */
    private boolean readRaw() {
        int search = pos;
        while (true) {
            int tag = src.indexOf("{%", search);
            if (tag < 0) {
                throw new TemplateException("unclosed raw block");
            }
            int bodyStart = tag + 2 + (tag + 2 < src.length() && (src.charAt(tag + 2) == '-' || src.charAt(tag + 2) == '+') ? 1 : 0);
            int end = src.indexOf("%}", bodyStart);
            String body = end < 0 ? "" : src.substring(bodyStart, end).replaceAll("[-+]$", "").strip();
            if (body.equals("endraw")) {
                String text = src.substring(pos, tag);
                if (src.charAt(tag + 2) == '-') {
                    text = rstripAll(text);
                }
                addText(text);
                boolean strip = src.charAt(end - 1) == '-';
                pos = end + 2;
                return strip;
            }
            search = tag + 2;
        }
    }

    private int nextTag(int from) {
        int i = from;
        while (true) {
            int at = src.indexOf('{', i);
            if (at < 0 || at + 1 >= src.length()) {
                return -1;
            }
            char c = src.charAt(at + 1);
            if (c == '{' || c == '%' || c == '#') {
                return at;
            }
            i = at + 1;
        }
    }

    /** The position of {@code close}, skipping over string literals inside expressions and statements. */
    private int findClose(int from, String close, boolean code) {
        int i = from;
        while (i < src.length()) {
            char c = src.charAt(i);
            if (code && (c == '\'' || c == '"')) {
                int j = i + 1;
                while (j < src.length() && src.charAt(j) != c) {
                    j += src.charAt(j) == '\\' ? 2 : 1;
                }
                i = j + 1;
                continue;
            }
            if (src.startsWith(close, i)) {
                return i;
            }
            i++;
        }
        return -1;
    }

    private void addText(String text) {
        if (!text.isEmpty()) {
            pieces.add(new Piece(Kind.TEXT, text, 0));
        }
    }

    private int line(int offset) {
        int n = 1;
        for (int i = 0; i < offset && i < src.length(); i++) {
            if (src.charAt(i) == '\n') {
                n++;
            }
        }
        return n;
    }

    private static boolean isBlank(String s, int from) {
        for (int i = from; i < s.length(); i++) {
            if (!Character.isWhitespace(s.charAt(i))) {
                return false;
            }
        }
        return true;
    }

    static String rstripAll(String s) {
        int end = s.length();
        while (end > 0 && Character.isWhitespace(s.charAt(end - 1))) {
            end--;
        }
        return s.substring(0, end);
    }

    static String lstripAll(String s) {
        int start = 0;
        while (start < s.length() && Character.isWhitespace(s.charAt(start))) {
            start++;
        }
        return s.substring(start);
    }
}
