package io.spillway.models.template;

import java.util.List;

/** The syntax tree of a template: statements that write output and expressions that compute values. */
sealed interface Node {

    // ---- statements ----

    record Text(String text) implements Node {
    }

    record Output(Expr expr) implements Node {
    }

    record If(List<Expr> conditions, List<List<Node>> bodies, List<Node> elseBody) implements Node {
    }

    record For(List<String> targets, Expr iterable, Expr filter, List<Node> body, List<Node> elseBody) implements Node {
    }

    /** {@code set a = ...}, {@code set a, b = ...} or {@code set ns.attr = ...}. */
    record Set(List<String> targets, String attribute, Expr value) implements Node {
    }

    record SetBlock(String target, List<Node> body) implements Node {
    }

    record Macro(String name, List<String> params, List<Expr> defaults, List<Node> body) implements Node {
    }

    record CallBlock(Expr call, List<Node> body) implements Node {
    }

    record FilterBlock(String filter, List<Expr> args, List<Node> body) implements Node {
    }

    record Break() implements Node {
    }

    record Continue() implements Node {
    }

    /** transformers' {@code {% generation %}}: marks assistant text for masks; renders its body. */
    record Generation(List<Node> body) implements Node {
    }

    // ---- expressions ----

    sealed interface Expr extends Node {
    }

    record Literal(Object value) implements Expr {
    }

    record Name(String name) implements Expr {
    }

    record Attr(Expr target, String name) implements Expr {
    }

    record Item(Expr target, Expr key) implements Expr {
    }

    record Slice(Expr target, Expr start, Expr stop, Expr step) implements Expr {
    }

    record Call(Expr function, List<Expr> args, List<String> kwargNames, List<Expr> kwargValues) implements Expr {
    }

    record Filter(Expr target, String name, List<Expr> args, List<String> kwargNames, List<Expr> kwargValues) implements Expr {
    }

    record Test(Expr target, String name, List<Expr> args, boolean negated) implements Expr {
    }

    record Unary(String op, Expr operand) implements Expr {
    }

    record Binary(String op, Expr left, Expr right) implements Expr {
    }

    record Compare(Expr first, List<String> ops, List<Expr> operands) implements Expr {
    }

    record And(Expr left, Expr right) implements Expr {
    }

    record Or(Expr left, Expr right) implements Expr {
    }

    record Not(Expr operand) implements Expr {
    }

    record Conditional(Expr condition, Expr then, Expr otherwise) implements Expr {
    }

    record ListLiteral(List<Expr> items) implements Expr {
    }

    record TupleLiteral(List<Expr> items) implements Expr {
    }

    record DictLiteral(List<Expr> keys, List<Expr> values) implements Expr {
    }
}
