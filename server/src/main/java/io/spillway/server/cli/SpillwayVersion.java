package io.spillway.server.cli;

import io.spillway.server.Version;
import picocli.CommandLine;

/** {@code spillway --version}. */
public final class SpillwayVersion implements CommandLine.IVersionProvider {

    @Override
    public String[] getVersion() {
        return new String[] {"spillway " + Version.current()};
    }
}
