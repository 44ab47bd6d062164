/**
 * Constrained decoding: grammars (JSON Schema, free JSON, literals, free text up to a terminator)
 * compiled against a model's vocabulary into masks of the tokens that may come next.
 *
 * <p>{@link io.spillway.models.grammar.Vocabulary} gives each token id its exact bytes;
 * {@link io.spillway.models.grammar.Grammar} values describe what may be said;
 * {@link io.spillway.models.grammar.CompiledGrammar#compile} builds one shared, thread-safe
 * automaton per grammar and vocabulary; a {@link io.spillway.models.grammar.Matcher} per sequence
 * gives the mask before each sampling step and advances past the sampled token.
 *
 * <p>How it works: every grammar is lowered to a byte-level pushdown automaton (rules, calls for
 * recursion, counting registers for long repetitions), run as a set of threads so tokens may span
 * grammar symbols and end inside a UTF-8 character. The mask of a configuration depends mostly on
 * the top of its stack: it is computed once per key (stacks cut to their top frames, counters
 * clipped past what a token can tell apart) by a walk over a trie of the vocabulary's bytes that
 * prunes a rejected prefix with its whole subtree, and cached; the few tokens that return below
 * the cut are checked against the real stack at each step. The ideas follow xgrammar's published
 * design (context-independent tokens precomputed, the rest checked at run time).
 */
package io.spillway.models.grammar;
