package io.spillway.server.wire;

import java.util.Optional;
import java.util.OptionalInt;

/**
 * One entry of {@code /v1/models}.
 *
 * @param weights how a model served here holds its weights; empty for a routed or embedding model
 */
public record ModelCard(String id, long created, String ownedBy, OptionalInt maxModelLength, Optional<Weights> weights) {

    public ModelCard(String id, long created, String ownedBy, OptionalInt maxModelLength) {
        this(id, created, ownedBy, maxModelLength, Optional.empty());
    }

    /** The weights' format ({@code float32}, {@code int8 (...)}), bytes, and the kernel applying the projections. */
    public record Weights(String format, long bytes, String kernel) {
    }
}
