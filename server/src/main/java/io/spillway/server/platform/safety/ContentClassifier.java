package io.spillway.server.platform.safety;

import java.util.Optional;

/**
 * A hook for a content classifier (a moderation model, a rules engine): given a text, the category it
 * falls in, if any. Spillway finds implementations with {@link java.util.ServiceLoader} and uses the one
 * named by {@code safety.classifier}; the configured action (flag, redact, block) applies to what it
 * reports. Implementations must be thread-safe and fast: they run on every request.
 */
public interface ContentClassifier {

    /** The name configuration refers to. */
    String name();

    /** The category of {@code text} (say "violence"), or empty when it is acceptable. */
    Optional<String> classify(String text);
}
