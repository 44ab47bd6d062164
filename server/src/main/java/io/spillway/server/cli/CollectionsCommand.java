package io.spillway.server.cli;

import io.spillway.server.config.ConfigLoader;
import io.spillway.server.config.ServerConfig;
import io.spillway.server.platform.keys.Database;
import io.spillway.server.store.StoreMigration;
import io.spillway.vectors.StorageOptions;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code spillway collections migrate}: moves collections between the embedded store (files under
 * {@code collections.data-dir}, one box) and the database store (PostgreSQL at {@code database.url},
 * shared by replicas), in either direction, and verifies every collection by count and checksum.
 * Run it with the servers stopped, or at least not writing: it copies what is there when it reads.
 */
@Command(name = "collections", mixinStandardHelpOptions = true, description = "Move retrieval collections between stores.",
        subcommands = {CollectionsCommand.Migrate.class})
public final class CollectionsCommand implements Runnable {

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    @Command(name = "migrate", mixinStandardHelpOptions = true,
            description = "Copy every collection from one store to the other, verified by counts and checksums.")
    static final class Migrate implements Callable<Integer> {
        @Option(names = "--from", required = true, description = "embedded or database")
        String from;

        @Option(names = "--to", required = true, description = "database or embedded")
        String to;

        @Option(names = "--config", description = "A YAML configuration file (its collections and database sections are used).")
        Path configFile;

        @Option(names = "--database-url", description = "jdbc:postgresql://HOST:PORT/DB (default: database.url).")
        String url;

        @Option(names = "--data-dir", description = "The embedded store's directory (default: collections.data-dir).")
        Path dataDir;

        @Override
        public Integer call() throws Exception {
            if (!List.of("embedded", "database").contains(from) || !List.of("embedded", "database").contains(to) || from.equals(to)) {
                throw new CliError("--from and --to must be embedded and database, one each");
            }
            ConfigLoader loader = ConfigLoader.defaults();
            if (configFile != null) {
                loader.file(configFile);
            }
            loader.environment(System.getenv());
            if (url != null) {
                loader.set("database.url", url, "--database-url");
            }
            if (dataDir != null) {
                loader.set("collections.data-dir", dataDir.toString(), "--data-dir");
            }
            ServerConfig config = loader.build();
            ServerConfig.Database d = config.database();
            if (!d.postgres()) {
                throw new CliError("the database store is PostgreSQL: set database.url (or --database-url) to jdbc:postgresql://...");
            }
            Path root = config.collections().resolvedDataDir();
            StorageOptions storage = new StorageOptions(config.collections().fsync(), config.collections().snapshotAfterLogBytes());
            List<StoreMigration.Copied> copied;
            try (Database db = Database.open(d.resolvedUrl(), d.user(), d.password())) {
                copied = from.equals("embedded") ? StoreMigration.embeddedToDatabase(root, db, storage)
                        : StoreMigration.databaseToEmbedded(db, root, storage);
            } catch (IllegalStateException e) {
                throw new CliError(e.getMessage());
            }
            System.out.printf("%-40s  %-24s  %9s  %s%n", "OWNER", "COLLECTION", "RECORDS", "SHA-256 (source = destination)");
            long total = 0;
            for (StoreMigration.Copied c : copied) {
                System.out.printf("%-40s  %-24s  %9d  %s%n", c.owner(), c.name(), c.count(), c.checksum());
                total += c.count();
            }
            System.err.printf("%d collections, %d records copied from the %s store (%s) to the %s store (%s); every count and checksum"
                    + " verified at the destination%n", copied.size(), total, from, from.equals("embedded") ? root : d.resolvedUrl(), to,
                    to.equals("embedded") ? root : d.resolvedUrl());
            return 0;
        }
    }
}
