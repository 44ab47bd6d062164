package io.spillway.server.generation;

/** What {@link Generator#start} gives back: a generation to subscribe to, or a refusal. */
public sealed interface Start {

    record Accepted(Generation generation) implements Start {
    }

    record Refused(Refusal refusal) implements Start {
    }
}
