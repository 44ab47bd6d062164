package io.spillway.server.wire;

import java.util.OptionalInt;

/** One entry of {@code /v1/models}. */
public record ModelCard(String id, long created, String ownedBy, OptionalInt maxModelLength) {
}
