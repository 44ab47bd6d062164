package io.spillway.server.wire;

import java.util.Optional;

/** A retrieved passage a chat answer was given, numbered as the prompt cites it ([1], [2], ...). */
public record Source(int index, String id, Optional<String> documentId, double score) {
}
