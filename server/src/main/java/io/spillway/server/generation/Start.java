package io.spillway.server.generation;

/** What {@link Generator#start} gives back: a generation to subscribe to, or a refusal. */
public sealed interface Start {

    record Accepted(Generation generation) implements Start {
    }

    /** @param routeReasons why the request went where it was refused ("pii_local_only", ...); empty if nothing decided */
    record Refused(Refusal refusal, java.util.List<String> routeReasons) implements Start {

        public Refused {
            routeReasons = java.util.List.copyOf(routeReasons);
        }

        public Refused(Refusal refusal) {
            this(refusal, java.util.List.of());
        }
    }
}
