package io.spillway.models.template;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Parses lexed pieces into a {@link Node} tree. Expressions follow Jinja2's grammar and precedence:
 * conditional, or, and, not, comparisons (including {@code in} and {@code not in}), {@code + -},
 * {@code ~}, {@code * / // %}, {@code **}, unary minus, then primaries with attribute, subscript,
 * slice and call postfixes, filters ({@code |}) and tests ({@code is}).
 */
final class Parser {

    private final List<Lexer.Piece> pieces;
    private int index;

    private Parser(List<Lexer.Piece> pieces) {
        this.pieces = pieces;
    }

    static List<Node> parse(String source) {
        Parser p = new Parser(Lexer.lex(source));
        List<Node> body = p.block(Set.of());
        if (p.index < p.pieces.size()) {
            Lexer.Piece stray = p.pieces.get(p.index);
            throw new TemplateException("unexpected '{% " + stray.source() + " %}' at line " + stray.line());
        }
        return body;
    }

    /** Parses nodes until a statement whose keyword is in {@code enders} (left unconsumed). */
    private List<Node> block(Set<String> enders) {
        List<Node> nodes = new ArrayList<>();
        while (index < pieces.size()) {
            Lexer.Piece piece = pieces.get(index);
            switch (piece.kind()) {
                case TEXT -> {
                    nodes.add(new Node.Text(piece.source()));
                    index++;
                }
                case EXPRESSION -> {
                    nodes.add(new Node.Output(new Expressions(piece.source(), piece.line()).parseAll()));
                    index++;
                }
                case STATEMENT -> {
                    String keyword = keyword(piece.source());
                    if (enders.contains(keyword)) {
                        return nodes;
                    }
                    index++;
                    nodes.add(statement(keyword, piece));
                }
            }
        }
        if (!enders.isEmpty()) {
            throw new TemplateException("missing " + enders + " at the end of the template");
        }
        return nodes;
    }

    private static String keyword(String source) {
        int end = 0;
        while (end < source.length() && Character.isJavaIdentifierPart(source.charAt(end))) {
            end++;
        }
        return source.substring(0, end);
    }

    private void expectEnd(String keyword) {
        if (index >= pieces.size() || !keyword(pieces.get(index).source()).equals(keyword)) {
            throw new TemplateException("expected {% " + keyword + " %}");
        }
        index++;
    }

    private Node statement(String keyword, Lexer.Piece piece) {
        Expressions e = new Expressions(piece.source().substring(keyword.length()), piece.line());
        switch (keyword) {
            case "if" -> {
                List<Node.Expr> conditions = new ArrayList<>();
                List<List<Node>> bodies = new ArrayList<>();
                conditions.add(e.parseAll());
                bodies.add(block(Set.of("elif", "else", "endif")));
                List<Node> elseBody = List.of();
                while (true) {
                    Lexer.Piece next = pieces.get(index++);
                    String k = keyword(next.source());
                    if (k.equals("elif")) {
                        conditions.add(new Expressions(next.source().substring(4), next.line()).parseAll());
                        bodies.add(block(Set.of("elif", "else", "endif")));
                    } else if (k.equals("else")) {
                        elseBody = block(Set.of("endif"));
                        expectEnd("endif");
                        break;
                    } else {
                        break;
                    }
                }
                return new Node.If(conditions, bodies, elseBody);
            }
            case "for" -> {
                List<String> targets = new ArrayList<>();
                targets.add(e.name());
                while (e.accept(",")) {
                    targets.add(e.name());
                }
                e.expectName("in");
                Node.Expr iterable = e.parseNoConditional();
                Node.Expr filter = null;
                if (e.acceptName("if")) {
                    filter = e.parseNoConditional();
                }
                e.acceptName("recursive");
                e.end();
                List<Node> body = block(Set.of("else", "endfor"));
                List<Node> elseBody = List.of();
                if (keyword(pieces.get(index).source()).equals("else")) {
                    index++;
                    elseBody = block(Set.of("endfor"));
                }
                expectEnd("endfor");
                return new Node.For(targets, iterable, filter, body, elseBody);
            }
            case "set" -> {
                List<String> targets = new ArrayList<>();
                targets.add(e.name());
                String attribute = null;
                if (e.accept(".")) {
                    attribute = e.name();
                }
                while (e.accept(",")) {
                    targets.add(e.name());
                }
                if (!e.accept("=")) {
                    e.end();
                    List<Node> body = block(Set.of("endset"));
                    expectEnd("endset");
                    return new Node.SetBlock(targets.get(0), body);
                }
                Node.Expr value = e.parseTupleOrExpression();
                e.end();
                return new Node.Set(targets, attribute, value);
            }
            case "macro" -> {
                String name = e.name();
                e.expect("(");
                List<String> params = new ArrayList<>();
                List<Node.Expr> defaults = new ArrayList<>();
                while (!e.accept(")")) {
                    params.add(e.name());
                    defaults.add(e.accept("=") ? e.parse() : null);
                    if (!e.accept(",")) {
                        e.expect(")");
                        break;
                    }
                }
                e.end();
                List<Node> body = block(Set.of("endmacro"));
                expectEnd("endmacro");
                return new Node.Macro(name, params, defaults, body);
            }
            case "call" -> {
                Node.Expr call = e.parseAll();
                List<Node> body = block(Set.of("endcall"));
                expectEnd("endcall");
                return new Node.CallBlock(call, body);
            }
            case "filter" -> {
                String name = e.name();
                List<Node.Expr> args = new ArrayList<>();
                if (e.accept("(")) {
                    while (!e.accept(")")) {
                        args.add(e.parse());
                        e.accept(",");
                    }
                }
                e.end();
                List<Node> body = block(Set.of("endfilter"));
                expectEnd("endfilter");
                return new Node.FilterBlock(name, args, body);
            }
            case "generation" -> {
                List<Node> body = block(Set.of("endgeneration"));
                expectEnd("endgeneration");
                return new Node.Generation(body);
            }
            case "break" -> {
                return new Node.Break();
            }
            case "continue" -> {
                return new Node.Continue();
            }
            default -> throw new TemplateException("unknown tag '" + keyword + "' at line " + piece.line());
        }
    }

    /** Tokenizes and parses the expressions inside one tag. */
    static final class Expressions {

        private record Token(char type, String text, Object value) {
        }

        private static final String[] OPERATORS = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", "="};

        private final List<Token> tokens = new ArrayList<>();
        private final int line;
        private int at;

        Expressions(String source, int line) {
            this.line = line;
            tokenize(source);
        }

        private void tokenize(String s) {
            int i = 0;
            while (i < s.length()) {
                char c = s.charAt(i);
                if (Character.isWhitespace(c)) {
                    i++;
                } else if (Character.isLetter(c) || c == '_') {
                    int j = i;
                    while (j < s.length() && (Character.isLetterOrDigit(s.charAt(j)) || s.charAt(j) == '_')) {
                        j++;
                    }
                    tokens.add(new Token('n', s.substring(i, j), null));
                    i = j;
                } else if (Character.isDigit(c)) {
                    int j = i;
                    boolean isFloat = false;
                    while (j < s.length() && (Character.isDigit(s.charAt(j)) || s.charAt(j) == '_'
                            || (s.charAt(j) == '.' && j + 1 < s.length() && Character.isDigit(s.charAt(j + 1)))
                            || ((s.charAt(j) == 'e' || s.charAt(j) == 'E') && j + 1 < s.length()))) {
                        if (s.charAt(j) == '.' || s.charAt(j) == 'e' || s.charAt(j) == 'E') {
                            isFloat = true;
                            if ((s.charAt(j) == 'e' || s.charAt(j) == 'E') && (s.charAt(j + 1) == '-' || s.charAt(j + 1) == '+')) {
                                j++;
                            }
                        }
                        j++;
                    }
                    String num = s.substring(i, j).replace("_", "");
                    tokens.add(new Token('#', num, isFloat ? (Object) Double.parseDouble(num) : (Object) Long.parseLong(num)));
                    i = j;
                } else if (c == '\'' || c == '"') {
                    StringBuilder out = new StringBuilder();
                    int j = i + 1;
                    while (j < s.length() && s.charAt(j) != c) {
                        char d = s.charAt(j);
                        if (d == '\\' && j + 1 < s.length()) {
                            char e = s.charAt(++j);
                            switch (e) {
                                case 'n' -> out.append('\n');
                                case 't' -> out.append('\t');
                                case 'r' -> out.append('\r');
                                case 'b' -> out.append('\b');
                                case 'f' -> out.append('\f');
                                case '0' -> out.append('\0');
                                case 'u' -> {
                                    out.append((char) Integer.parseInt(s.substring(j + 1, j + 5), 16));
                                    j += 4;
                                }
                                case 'x' -> {
                                    out.append((char) Integer.parseInt(s.substring(j + 1, j + 3), 16));
                                    j += 2;
                                }
                                case '\n' -> { }
                                default -> {
                                    if (e != '\\' && e != '\'' && e != '"') {
                                        out.append('\\');
                                    }
                                    out.append(e);
                                }
                            }
                        } else {
                            out.append(d);
                        }
                        j++;
                    }
                    if (j >= s.length()) {
                        throw error("unterminated string");
                    }
                    tokens.add(new Token('s', out.toString(), out.toString()));
                    i = j + 1;
                } else {
                    String op = null;
                    for (String o : OPERATORS) {
                        if (s.startsWith(o, i)) {
                            op = o;
                            break;
                        }
                    }
                    if (op == null) {
                        throw error("unexpected character '" + c + "'");
                    }
                    tokens.add(new Token('o', op, null));
                    i += op.length();
                }
            }
        }

        private TemplateException error(String message) {
            return new TemplateException(message + " in template expression at line " + line);
        }

        private Token peek() {
            return at < tokens.size() ? tokens.get(at) : new Token('$', "", null);
        }

        private Token peek(int ahead) {
            return at + ahead < tokens.size() ? tokens.get(at + ahead) : new Token('$', "", null);
        }

        boolean accept(String op) {
            Token t = peek();
            if (t.type() == 'o' && t.text().equals(op)) {
                at++;
                return true;
            }
            return false;
        }

        boolean acceptName(String name) {
            Token t = peek();
            if (t.type() == 'n' && t.text().equals(name)) {
                at++;
                return true;
            }
            return false;
        }

        void expect(String op) {
            if (!accept(op)) {
                throw error("expected '" + op + "' but found '" + peek().text() + "'");
            }
        }

        void expectName(String name) {
            if (!acceptName(name)) {
                throw error("expected '" + name + "' but found '" + peek().text() + "'");
            }
        }

        String name() {
            Token t = peek();
            if (t.type() != 'n') {
                throw error("expected a name but found '" + t.text() + "'");
            }
            at++;
            return t.text();
        }

        void end() {
            if (at < tokens.size()) {
                throw error("unexpected '" + peek().text() + "'");
            }
        }

        Node.Expr parseAll() {
            Node.Expr e = parseTupleOrExpression();
            end();
            return e;
        }

        /** {@code a, b} without parentheses is a tuple (as in {@code set x = a, b}). */
        Node.Expr parseTupleOrExpression() {
            Node.Expr first = parse();
            if (peek().type() == 'o' && peek().text().equals(",")) {
                List<Node.Expr> items = new ArrayList<>(List.of(first));
                while (accept(",")) {
                    if (peek().type() == '$') {
                        break;
                    }
                    items.add(parse());
                }
                return new Node.TupleLiteral(items);
            }
            return first;
        }

        Node.Expr parse() {
            Node.Expr e = parseOr();
            if (acceptName("if")) {
                Node.Expr condition = parseOr();
                Node.Expr otherwise = acceptName("else") ? parse() : null;
                return new Node.Conditional(condition, e, otherwise);
            }
            return e;
        }

        Node.Expr parseNoConditional() {
            return parseOr();
        }

        private Node.Expr parseOr() {
            Node.Expr e = parseAnd();
            while (acceptName("or")) {
                e = new Node.Or(e, parseAnd());
            }
            return e;
        }

        private Node.Expr parseAnd() {
            Node.Expr e = parseNot();
            while (acceptName("and")) {
                e = new Node.And(e, parseNot());
            }
            return e;
        }

        private Node.Expr parseNot() {
            if (acceptName("not")) {
                return new Node.Not(parseNot());
            }
            return parseCompare();
        }

        private Node.Expr parseCompare() {
            Node.Expr first = parseMath1();
            List<String> ops = new ArrayList<>();
            List<Node.Expr> operands = new ArrayList<>();
            while (true) {
                Token t = peek();
                if (t.type() == 'o' && Set.of("==", "!=", "<", ">", "<=", ">=").contains(t.text())) {
                    at++;
                    ops.add(t.text());
                } else if (t.type() == 'n' && t.text().equals("in")) {
                    at++;
                    ops.add("in");
                } else if (t.type() == 'n' && t.text().equals("not") && peek(1).type() == 'n' && peek(1).text().equals("in")) {
                    at += 2;
                    ops.add("notin");
                } else {
                    break;
                }
                operands.add(parseMath1());
            }
            return ops.isEmpty() ? first : new Node.Compare(first, ops, operands);
        }

        private Node.Expr parseMath1() {
            Node.Expr e = parseConcat();
            while (peek().type() == 'o' && (peek().text().equals("+") || peek().text().equals("-"))) {
                String op = peek().text();
                at++;
                e = new Node.Binary(op, e, parseConcat());
            }
            return e;
        }

        private Node.Expr parseConcat() {
            Node.Expr e = parseMath2();
            while (accept("~")) {
                e = new Node.Binary("~", e, parseMath2());
            }
            return e;
        }

        private Node.Expr parseMath2() {
            Node.Expr e = parsePow();
            while (peek().type() == 'o' && Set.of("*", "/", "//", "%").contains(peek().text())) {
                String op = peek().text();
                at++;
                e = new Node.Binary(op, e, parsePow());
            }
            return e;
        }

        private Node.Expr parsePow() {
            Node.Expr e = parseUnary(true);
            while (accept("**")) {
                e = new Node.Binary("**", e, parseUnary(true));
            }
            return e;
        }

        private Node.Expr parseUnary(boolean withFilter) {
            Node.Expr e;
            if (accept("-")) {
                e = new Node.Unary("-", parseUnary(false));
            } else if (accept("+")) {
                e = new Node.Unary("+", parseUnary(false));
            } else {
                e = parsePostfix(parsePrimary());
            }
            return withFilter ? parseFilters(e) : e;
        }

        private Node.Expr parsePrimary() {
            Token t = peek();
            switch (t.type()) {
                case 's' -> {
                    at++;
                    // Adjacent string literals concatenate, as in Python.
                    StringBuilder s = new StringBuilder(t.text());
                    while (peek().type() == 's') {
                        s.append(peek().text());
                        at++;
                    }
                    return new Node.Literal(s.toString());
                }
                case '#' -> {
                    at++;
                    return new Node.Literal(t.value());
                }
                case 'n' -> {
                    at++;
                    return switch (t.text()) {
                        case "true", "True" -> new Node.Literal(Boolean.TRUE);
                        case "false", "False" -> new Node.Literal(Boolean.FALSE);
                        case "none", "None" -> new Node.Literal(null);
                        default -> new Node.Name(t.text());
                    };
                }
                case 'o' -> {
                    if (accept("(")) {
                        if (accept(")")) {
                            return new Node.TupleLiteral(List.of());
                        }
                        Node.Expr first = parse();
                        if (accept(")")) {
                            return first;
                        }
                        List<Node.Expr> items = new ArrayList<>(List.of(first));
                        while (accept(",")) {
                            if (accept(")")) {
                                return new Node.TupleLiteral(items);
                            }
                            items.add(parse());
                        }
                        expect(")");
                        return new Node.TupleLiteral(items);
                    }
                    if (accept("[")) {
                        List<Node.Expr> items = new ArrayList<>();
                        while (!accept("]")) {
                            items.add(parse());
                            if (!accept(",")) {
                                expect("]");
                                break;
                            }
                        }
                        return new Node.ListLiteral(items);
                    }
                    if (accept("{")) {
                        List<Node.Expr> keys = new ArrayList<>();
                        List<Node.Expr> values = new ArrayList<>();
                        while (!accept("}")) {
                            keys.add(parse());
                            expect(":");
                            values.add(parse());
                            if (!accept(",")) {
                                expect("}");
                                break;
                            }
                        }
                        return new Node.DictLiteral(keys, values);
                    }
                    throw error("unexpected '" + t.text() + "'");
                }
                default -> throw error("unexpected end of expression");
            }
        }

        private Node.Expr parsePostfix(Node.Expr e) {
            while (true) {
                if (accept(".")) {
                    Token t = peek();
                    at++;
                    e = t.type() == '#' ? new Node.Item(e, new Node.Literal(t.value())) : new Node.Attr(e, t.text());
                } else if (accept("[")) {
                    e = subscript(e);
                } else if (peek().type() == 'o' && peek().text().equals("(")) {
                    at++;
                    e = call(e);
                } else {
                    return e;
                }
            }
        }

        private Node.Expr subscript(Node.Expr target) {
            Node.Expr start = null;
            if (!(peek().type() == 'o' && peek().text().equals(":"))) {
                start = parse();
                if (accept("]")) {
                    return new Node.Item(target, start);
                }
            }
            expect(":");
            Node.Expr stop = null;
            Node.Expr step = null;
            if (!(peek().type() == 'o' && (peek().text().equals(":") || peek().text().equals("]")))) {
                stop = parse();
            }
            if (accept(":")) {
                if (!(peek().type() == 'o' && peek().text().equals("]"))) {
                    step = parse();
                }
            }
            expect("]");
            return new Node.Slice(target, start, stop, step);
        }

        private Node.Call call(Node.Expr function) {
            List<Node.Expr> args = new ArrayList<>();
            List<String> names = new ArrayList<>();
            List<Node.Expr> values = new ArrayList<>();
            while (!accept(")")) {
                if (peek().type() == 'n' && peek(1).type() == 'o' && peek(1).text().equals("=")) {
                    names.add(name());
                    at++;
                    values.add(parse());
                } else {
                    args.add(parse());
                }
                if (!accept(",")) {
                    expect(")");
                    break;
                }
            }
            return new Node.Call(function, args, names, values);
        }

        private Node.Expr parseFilters(Node.Expr e) {
            while (true) {
                if (accept("|")) {
                    String name = name();
                    while (accept(".")) {
                        name = name + "." + name();
                    }
                    if (peek().type() == 'o' && peek().text().equals("(")) {
                        at++;
                        Node.Call c = call(new Node.Name(name));
                        e = new Node.Filter(e, name, c.args(), c.kwargNames(), c.kwargValues());
                    } else {
                        e = new Node.Filter(e, name, List.of(), List.of(), List.of());
                    }
                } else if (acceptName("is")) {
                    boolean negated = acceptName("not");
                    String name = name();
                    List<Node.Expr> args = new ArrayList<>();
                    if (peek().type() == 'o' && peek().text().equals("(")) {
                        at++;
                        args.addAll(call(new Node.Name(name)).args());
                    } else if (isTestArgumentStart(peek())) {
                        // Jinja allows one bare argument: "x is divisibleby 3", "x is sameas none".
                        args.add(parsePostfix(parsePrimary()));
                    }
                    e = new Node.Test(e, name, args, negated);
                } else {
                    return e;
                }
            }
        }

        private static boolean isTestArgumentStart(Token t) {
            if (t.type() == 's' || t.type() == '#') {
                return true;
            }
            if (t.type() == 'n') {
                return !Set.of("and", "or", "else", "if", "in", "not", "is").contains(t.text());
            }
            return false;
        }
    }
}
