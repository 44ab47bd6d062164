package io.spillway.server.output;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Calls between an opening and a closing tag, one JSON object each: Hermes' and Qwen's
 * {@code <tool_call>{"name": ..., "arguments": ...}</tool_call>}. Whitespace around calls is not
 * content; text around them is.
 */
final class TaggedToolCalls extends ToolCallParser {

    private final String open;
    private final String close;
    private boolean inside;
    /** The text since the last call (or the start) had more than whitespace: its whitespace is content too. */
    private boolean runHasText;

    TaggedToolCalls(String open, String close, ToolCallIds ids) {
        super(ids);
        this.open = open;
        this.close = close;
    }

    @Override
    List<OutputPiece> drain(boolean end) {
        List<OutputPiece> out = new ArrayList<>();
        while (pending.length() > 0) {
            if (inside) {
                int at = pending.indexOf(close);
                if (at < 0 && !end) {
                    break;
                }
                String body = at < 0 ? pending.toString() : pending.substring(0, at);
                pending.delete(0, at < 0 ? pending.length() : at + close.length());
                inside = false;
                runHasText = false;
                Optional<JsonCall.Parsed> call = JsonCall.parse(body).flatMap(JsonCall::call);
                if (call.isPresent()) {
                    out.add(call(call.get().name(), call.get().arguments()));
                } else {
                    out.add(new OutputPiece.Content(open + body + (at < 0 ? "" : close)));
                }
                continue;
            }
            int at = pending.indexOf(open);
            if (at >= 0) {
                String before = pending.substring(0, at);
                if (!before.isEmpty() && (runHasText || !before.isBlank())) {
                    out.add(new OutputPiece.Content(before));
                }
                pending.delete(0, at + open.length());
                inside = true;
                runHasText = false;
                continue;
            }
            int keep = end ? 0 : ReasoningSplitter.partialTagSuffix(pending, open);
            String release = pending.substring(0, pending.length() - keep);
            if (release.isBlank() && !runHasText && !end) {
                // Whitespace that only separates calls is not content: hold it until text or a call follows.
                break;
            }
            if (!release.isEmpty() && (runHasText || !release.isBlank() || calls() == 0)) {
                out.add(new OutputPiece.Content(release));
                runHasText |= !release.isBlank();
            }
            pending.delete(0, release.length());
            break;
        }
        return out;
    }
}
