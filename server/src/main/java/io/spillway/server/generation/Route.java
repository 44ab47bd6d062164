package io.spillway.server.generation;

import java.util.Locale;

/** Where a generation runs. */
public enum Route {
    LOCAL, BEDROCK;

    /** As responses (x-spillway-route, the route field), metrics and the audit log name it. */
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
