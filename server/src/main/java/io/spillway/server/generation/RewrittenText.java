package io.spillway.server.generation;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * A generation whose answer text is rewritten as it streams, part by part: each choice's content,
 * its reasoning and each of its tool calls' arguments go through their own {@link Rewriter}, which
 * may hold text back (a match not yet whole); what a choice's parts still hold is released just
 * before its Finished. Token ids and logprobs pass unchanged.
 */
public class RewrittenText extends ForwardingGeneration {

    /** Which text of the answer a rewriter sees. */
    public enum Kind { CONTENT, REASONING, TOOL_ARGUMENTS }

    /** One part of the answer: its kind, its choice, and for tool arguments the call's position (0 otherwise). */
    public record Part(Kind kind, int choice, int call) {
    }

    /** Rewrites one part's text as it arrives. */
    public interface Rewriter {
        /** The next piece in; what may go out now (maybe empty). */
        String add(String piece);

        /** The part ended: everything still held, rewritten. */
        String flush();
    }

    private final Function<Part, Rewriter> open;
    private final Map<Part, Rewriter> parts = new LinkedHashMap<>();

    /** @param open a new rewriter for a part seen first */
    public RewrittenText(Generation inner, Function<Part, Rewriter> open) {
        super(inner);
        this.open = open;
    }

    /** The rewriters opened so far, in the order their parts appeared. */
    protected final Iterable<Rewriter> rewriters() {
        return parts.values();
    }

    @Override
    protected void onEvent(GenerationEvent event, Consumer<GenerationEvent> downstream) {
        switch (event) {
            case GenerationEvent.Delta d -> downstream.accept(d.withText(part(Kind.CONTENT, d.choice(), 0).add(d.text())));
            case GenerationEvent.ReasoningDelta r -> downstream.accept(r.withText(part(Kind.REASONING, r.choice(), 0).add(r.text())));
            case GenerationEvent.ToolCallDelta t ->
                    downstream.accept(t.withArguments(part(Kind.TOOL_ARGUMENTS, t.choice(), t.call()).add(t.arguments())));
            case GenerationEvent.Finished f -> {
                flush(f.choice(), downstream);
                downstream.accept(f);
            }
            default -> downstream.accept(event);
        }
    }

    private Rewriter part(Kind kind, int choice, int call) {
        return parts.computeIfAbsent(new Part(kind, choice, call), open);
    }

    private void flush(int choice, Consumer<GenerationEvent> downstream) {
        for (Map.Entry<Part, Rewriter> e : parts.entrySet()) {
            Part p = e.getKey();
            if (p.choice() != choice) {
                continue;
            }
            String rest = e.getValue().flush();
            if (rest.isEmpty()) {
                continue;
            }
            downstream.accept(switch (p.kind()) {
                case CONTENT -> new GenerationEvent.Delta(choice, rest, new int[0], List.of());
                case REASONING -> new GenerationEvent.ReasoningDelta(choice, rest);
                case TOOL_ARGUMENTS -> new GenerationEvent.ToolCallDelta(choice, p.call(), Optional.empty(), Optional.empty(), rest);
            });
        }
    }
}
