package io.spillway.server.output;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Calls written as bare JSON, Llama 3.1/3.2's way: the answer is one or more
 * {@code {"name": ..., "parameters": ...}} objects (separated by ';' or whitespace, optionally after
 * {@code <|python_tag|>}), or it is plain text. An answer that starts like JSON is held until it
 * ends or stops looking like calls; then it is calls, or, all of it, content.
 */
final class JsonToolCalls extends ToolCallParser {

    static final String PYTHON_TAG = "<|python_tag|>";

    private final List<JsonCall.Parsed> parsed = new ArrayList<>();
    /** Undecided until the answer's first characters show whether it is calls. */
    private Boolean callsShape;

    JsonToolCalls(ToolCallIds ids) {
        super(ids);
    }

    @Override
    List<OutputPiece> drain(boolean end) {
        List<OutputPiece> out = new ArrayList<>();
        if (callsShape == null) {
            String lead = pending.toString().stripLeading();
            if (lead.isEmpty() || (PYTHON_TAG.startsWith(lead) && !end)) {
                if (!end) {
                    return out;
                }
            }
            callsShape = lead.startsWith("{") || lead.startsWith(PYTHON_TAG);
        }
        if (!callsShape) {
            if (pending.length() > 0) {
                out.add(new OutputPiece.Content(pending.toString()));
                pending.setLength(0);
            }
            return out;
        }
        if (!end) {
            return out;
        }
        Optional<List<JsonCall.Parsed>> all = callsIn(pending.toString());
        if (all.isPresent() && !all.get().isEmpty()) {
            for (JsonCall.Parsed c : all.get()) {
                out.add(call(c.name(), c.arguments()));
            }
        } else if (pending.length() > 0) {
            out.add(new OutputPiece.Content(pending.toString()));
        }
        pending.setLength(0);
        return out;
    }

    /** The calls a whole answer holds, or empty when any part of it is not a call. */
    static Optional<List<JsonCall.Parsed>> callsIn(String text) {
        String rest = text.strip();
        if (rest.startsWith(PYTHON_TAG)) {
            rest = rest.substring(PYTHON_TAG.length()).strip();
        }
        List<JsonCall.Parsed> out = new ArrayList<>();
        while (!rest.isEmpty()) {
            int end = objectEnd(rest);
            if (end < 0) {
                return Optional.empty();
            }
            Optional<JsonCall.Parsed> call = JsonCall.parse(rest.substring(0, end)).flatMap(JsonCall::call);
            if (call.isEmpty()) {
                return Optional.empty();
            }
            out.add(call.get());
            rest = rest.substring(end).strip();
            if (rest.startsWith(";")) {
                rest = rest.substring(1).strip();
            }
        }
        return Optional.of(out);
    }

    /** Where the JSON object at the start of {@code text} ends (one past its '}'), or -1. */
    static int objectEnd(String text) {
        if (!text.startsWith("{")) {
            return -1;
        }
        int depth = 0;
        boolean string = false;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (string) {
                if (c == '\\') {
                    i++;
                } else if (c == '"') {
                    string = false;
                }
            } else if (c == '"') {
                string = true;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0) {
                    return i + 1;
                }
            }
        }
        return -1;
    }
}
