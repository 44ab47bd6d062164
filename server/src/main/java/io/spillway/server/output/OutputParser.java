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

    /**
     * @param reasoning split a reasoning block off the answer
     * @param startsInReasoning the prompt ended inside a reasoning block (its template opened it)
     * @param tools read tool calls in this format
     */
    public OutputParser(boolean reasoning, boolean startsInReasoning, Optional<ToolCallFormat> tools) {
        this.reasoning = reasoning ? Optional.of(new ReasoningSplitter(startsInReasoning)) : Optional.empty();
        this.tools = tools.map(ToolCallFormat::parser);
    }

    /** Whether the text so far ended inside the reasoning block (its tokens count as reasoning). */
    public boolean inReasoning() {
        return reasoning.map(ReasoningSplitter::reasoning).orElse(false);
    }

    public int toolCalls() {
        return tools.map(ToolCallParser::calls).orElse(0);
    }

    public List<OutputPiece> add(String text) {
        return reasoning.isPresent() ? route(reasoning.get().add(text), false) : content(text, false);
    }

    public List<OutputPiece> finish() {
        List<OutputPiece> out = new ArrayList<>();
        if (reasoning.isPresent()) {
            out.addAll(route(reasoning.get().finish(), false));
        }
        tools.ifPresent(t -> out.addAll(t.finish()));
        return out;
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
