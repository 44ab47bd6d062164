package io.spillway.server.output;

import java.util.ArrayList;
import java.util.List;

/**
 * Separates a thinking model's reasoning ({@code <think>…</think>}, as Qwen3 and DeepSeek-R1's
 * distills write it) from its answer, as the text streams: a tag split across pieces is held back
 * until it is whole, so no part of one ever reaches either side. A model whose prompt already
 * opened the block (DeepSeek-R1's template ends the prompt with {@code <think>}) starts inside it.
 */
public final class ReasoningSplitter {

    static final String OPEN = "<think>";
    static final String CLOSE = "</think>";

    private final StringBuilder pending = new StringBuilder();
    private boolean inside;
    private boolean done;
    /** A reasoning block ended and no answer text came yet: the newlines templates put there are not the answer's. */
    private boolean afterBlock;

    public ReasoningSplitter(boolean startsInside) {
        this.inside = startsInside;
    }

    /** Whether the text seen so far is inside the reasoning block. */
    public boolean reasoning() {
        return inside;
    }

    public List<OutputPiece> add(String text) {
        pending.append(text);
        return drain(false);
    }

    /** The rest, the text having ended. */
    public List<OutputPiece> finish() {
        return drain(true);
    }

    private List<OutputPiece> drain(boolean end) {
        List<OutputPiece> out = new ArrayList<>();
        while (pending.length() > 0) {
            if (done) {
                emitAnswer(out, pending.toString());
                pending.setLength(0);
            } else if (!inside) {
                String lead = pending.toString().stripLeading();
                if (lead.startsWith(OPEN)) {
                    inside = true;
                    pending.delete(0, pending.indexOf(OPEN) + OPEN.length());
                } else if (!end && (lead.isEmpty() || OPEN.startsWith(lead))) {
                    break; // it may still become the opening tag
                } else {
                    done = true; // the answer did not start with a reasoning block: all of it is answer
                }
            } else {
                int at = pending.indexOf(CLOSE);
                if (at >= 0) {
                    emit(out, new OutputPiece.Reasoning(pending.substring(0, at)));
                    pending.delete(0, at + CLOSE.length());
                    inside = false;
                    done = true;
                    afterBlock = true;
                } else {
                    int keep = end ? 0 : partialTagSuffix(pending, CLOSE);
                    emit(out, new OutputPiece.Reasoning(pending.substring(0, pending.length() - keep)));
                    pending.delete(0, pending.length() - keep);
                    break;
                }
            }
        }
        return out;
    }

    private void emitAnswer(List<OutputPiece> out, String text) {
        if (afterBlock) {
            text = text.replaceFirst("^\\n+", "");
            afterBlock = text.isEmpty();
        }
        emit(out, new OutputPiece.Content(text));
    }

    private static void emit(List<OutputPiece> out, OutputPiece piece) {
        String text = switch (piece) {
            case OutputPiece.Content c -> c.text();
            case OutputPiece.Reasoning r -> r.text();
            case OutputPiece.ToolCall t -> "x";
        };
        if (!text.isEmpty()) {
            out.add(piece);
        }
    }

    /** How many characters at the end of {@code text} could be the start of {@code tag}. */
    static int partialTagSuffix(CharSequence text, String tag) {
        for (int n = Math.min(tag.length() - 1, text.length()); n > 0; n--) {
            if (tag.startsWith(text.subSequence(text.length() - n, text.length()).toString())) {
                return n;
            }
        }
        return 0;
    }
}
