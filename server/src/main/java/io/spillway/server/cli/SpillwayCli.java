package io.spillway.server.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code spillway} command line: one entry point, a subcommand per job. */
@Command(name = "spillway",
        mixinStandardHelpOptions = true,
        versionProvider = SpillwayVersion.class,
        description = "Self-hosted LLM inference server with an OpenAI-compatible API.",
        subcommands = {ServeCommand.class, GenerateCommand.class, KeysCommand.class, CollectionsCommand.class, BenchCommand.class, AuditCommand.class, AcceptanceCommand.class,
                CommandLine.HelpCommand.class})
public final class SpillwayCli implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs the CLI and returns its exit code (tests call this instead of {@link #main}). */
    public static int execute(String... args) {
        CommandLine cli = new CommandLine(new SpillwayCli());
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            // A failure the user can act on: one clear line, no stack trace.
            commandLine.getErr().println("spillway: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
            return e instanceof CliError ? 2 : 1;
        });
        return cli.execute(args);
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
