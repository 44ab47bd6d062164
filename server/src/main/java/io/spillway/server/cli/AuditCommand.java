package io.spillway.server.cli;

import io.spillway.server.platform.audit.AuditChain;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code spillway audit verify DIR}: checks the audit trail's hash chain end to end. */
@Command(name = "audit", mixinStandardHelpOptions = true, description = "Check the audit trail.",
        subcommands = {AuditCommand.Verify.class})
public final class AuditCommand implements Runnable {

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    @Command(name = "verify", mixinStandardHelpOptions = true,
            description = "Check every line of the trail in DIR against the hash chain; exit 1 naming the first line that was"
                    + " changed, removed or reordered.")
    static final class Verify implements Callable<Integer> {
        @Parameters(paramLabel = "DIR", description = "The audit directory (audit.dir).")
        Path dir;

        @Option(names = "--anchor", description = "The hash the oldest line kept follows, when older files were archived"
                + " (default: the start of a trail, 64 zeros).")
        String anchor = AuditChain.GENESIS;

        @Override
        public Integer call() {
            if (!Files.isDirectory(dir)) {
                throw new CliError("no audit directory at " + dir);
            }
            AuditChain.Result result;
            try {
                result = AuditChain.verify(dir, anchor);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the audit trail in " + dir, e);
            }
            return switch (result) {
                case AuditChain.Verified v -> {
                    System.out.println("ok: " + v.lines() + " lines in " + v.files() + " files, chained from " + v.firstPrevHash()
                            + " to " + v.lastHash());
                    System.out.println("keep the last hash elsewhere to prove later that no line after it was lost.");
                    yield 0;
                }
                case AuditChain.Broken b -> {
                    System.out.println("BROKEN at " + b.file() + " line " + b.line() + ": " + b.why());
                    yield 1;
                }
            };
        }
    }
}
