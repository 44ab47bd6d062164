package io.spillway.server.wire;

/** The request's {@code route}: {@code auto}, or {@code local-only} for data that must not leave the box. */
public enum RoutePreference {
    AUTO, LOCAL_ONLY
}
