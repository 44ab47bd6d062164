package io.spillway.server.output;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Calls after a marker, as one JSON array: Mistral's {@code [TOOL_CALLS] [{"name": ..., "arguments":
 * {...}}, ...]}. Text before the marker is content; a marker followed by anything but calls is
 * content, marker and all.
 */
final class ArrayToolCalls extends ToolCallParser {

    private final String marker;
    private boolean after;

    ArrayToolCalls(String marker, ToolCallIds ids) {
        super(ids);
        this.marker = marker;
    }

    @Override
    List<OutputPiece> drain(boolean end) {
        List<OutputPiece> out = new ArrayList<>();
        if (!after) {
            int at = pending.indexOf(marker);
            if (at >= 0) {
                if (at > 0) {
                    out.add(new OutputPiece.Content(pending.substring(0, at)));
                }
                pending.delete(0, at + marker.length());
                after = true;
            } else {
                int keep = end ? 0 : ReasoningSplitter.partialTagSuffix(pending, marker);
                if (pending.length() > keep) {
                    out.add(new OutputPiece.Content(pending.substring(0, pending.length() - keep)));
                    pending.delete(0, pending.length() - keep);
                }
                return out;
            }
        }
        if (!end) {
            return out;
        }
        Optional<JsonNode> array = JsonCall.parse(pending.toString()).filter(JsonNode::isArray);
        List<JsonCall.Parsed> parsed = new ArrayList<>();
        boolean valid = array.isPresent() && !array.get().isEmpty();
        if (valid) {
            for (JsonNode item : array.get()) {
                Optional<JsonCall.Parsed> call = JsonCall.call(item);
                valid &= call.isPresent();
                call.ifPresent(parsed::add);
            }
        }
        if (valid) {
            for (JsonCall.Parsed c : parsed) {
                out.add(call(c.name(), c.arguments()));
            }
        } else {
            out.add(new OutputPiece.Content(marker + pending));
        }
        pending.setLength(0);
        return out;
    }
}
