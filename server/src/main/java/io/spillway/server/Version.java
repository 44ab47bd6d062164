package io.spillway.server;

/** Spillway's version: the jar manifest's (set by the build), or "development" when run from classes. */
public final class Version {

    private Version() {
    }

    public static String current() {
        String v = Version.class.getPackage().getImplementationVersion();
        return v == null ? "development" : v;
    }
}
