package io.spillway.server.cli;

/** A problem with what the user asked for, reported as one line without a stack trace (exit code 2). */
public final class CliError extends RuntimeException {
    public CliError(String message) {
        super(message);
    }
}
