package io.spillway.server.cli;

import picocli.CommandLine;

/** The version from the jar's manifest (set by the build), or "development" when run from classes. */
public final class SpillwayVersion implements CommandLine.IVersionProvider {

    public static String current() {
        String v = SpillwayVersion.class.getPackage().getImplementationVersion();
        return v == null ? "development" : v;
    }

    @Override
    public String[] getVersion() {
        return new String[] {"spillway " + current()};
    }
}
