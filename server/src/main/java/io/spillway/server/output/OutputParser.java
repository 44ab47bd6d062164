package io.spillway.server.output;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * One choice's text read into reasoning, content and tool calls, as it streams: the reasoning
 * block first (for a model that thinks), then tool-call markup in what remains (for a request that
 * offers tools). Output processing, outside the engine: the engine only produces text.
 */
public final class OutputParser {

    private final Optional<ReasoningSplitter> reasoning;
    private final Optional<ToolCallParser> tools;
    private final int maxCalls;

    /** A reader that passes on every tool call it reads. */
    public OutputParser(boolean reasoning, boolean startsInReasoning, Optional<ToolCallFormat> tools) {
        this(reasoning, startsInReasoning, tools, Integer.MAX_VALUE);
    }

    /**
     * @param reasoning split a reasoning block off the answer
     * @param startsInReasoning the prompt ended inside a reasoning block (its template opened it)
     * @param tools read tool calls in this format
     * @param maxCalls pass on at most this many calls, dropping the rest: a model left free to
     *     choose ({@code tool_choice: auto}) may write several where the client allowed one, and
     *     only a grammar-bound choice keeps it from writing them
     */
    public OutputParser(boolean reasoning, boolean startsInReasoning, Optional<ToolCallFormat> tools, int maxCalls) {
        this.reasoning = reasoning ? Optional.of(new ReasoningSplitter(startsInReasoning)) : Optional.empty();
        this.tools = tools.map(ToolCallFormat::parser);
        this.maxCalls = maxCalls;
    }

    /** Whether the text so far ended inside the reasoning block (its tokens count as reasoning). */
    public boolean inReasoning() {
        return reasoning.map(ReasoningSplitter::reasoning).orElse(false);
    }

    public int toolCalls() {
        return Math.min(maxCalls, tools.map(ToolCallParser::calls).orElse(0));
    }

    public List<OutputPiece> add(String text) {
        return allowed(reasoning.isPresent() ? route(reasoning.get().add(text), false) : content(text, false));
    }

    public List<OutputPiece> finish() {
        List<OutputPiece> out = new ArrayList<>();
        if (reasoning.isPresent()) {
            out.addAll(route(reasoning.get().finish(), false));
        }
        tools.ifPresent(t -> out.addAll(t.finish()));
        return allowed(out);
    }

    private List<OutputPiece> allowed(List<OutputPiece> pieces) {
        if (pieces.stream().noneMatch(p -> p instanceof OutputPiece.ToolCall call && call.index() >= maxCalls)) {
            return pieces;
        }
        return pieces.stream().filter(p -> !(p instanceof OutputPiece.ToolCall call && call.index() >= maxCalls)).toList();
    }

    private List<OutputPiece> route(List<OutputPiece> pieces, boolean end) {
        List<OutputPiece> out = new ArrayList<>();
        for (OutputPiece p : pieces) {
            if (p instanceof OutputPiece.Content c) {
                out.addAll(content(c.text(), end));
            } else {
                out.add(p);
            }
        }
        return out;
    }

    private List<OutputPiece> content(String text, boolean end) {
        return tools.isPresent() ? tools.get().add(text) : List.of(new OutputPiece.Content(text));
    }
}
