package io.spillway.server.cli;

import io.spillway.server.config.ConfigLoader;
import io.spillway.server.config.ServerConfig;
import io.spillway.server.platform.keys.ApiKey;
import io.spillway.server.platform.keys.Database;
import io.spillway.server.platform.keys.KeyStore;
import io.spillway.server.generation.PiiOnSpill;
import io.spillway.server.platform.safety.SafetyAction;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code spillway keys create|list|revoke}: API keys in the configured database (the server's
 * {@code database.*}), so the CLI and every replica see the same keys.
 */
@Command(name = "keys", mixinStandardHelpOptions = true, description = "Create, list and revoke API keys.",
        subcommands = {KeysCommand.Create.class, KeysCommand.ListKeys.class, KeysCommand.Revoke.class})
public final class KeysCommand implements Runnable {

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** The database options every subcommand takes. */
    static final class DatabaseOptions {
        @Option(names = "--config", description = "A YAML configuration file (its database section is used).")
        Path configFile;

        @Option(names = "--database-url", description = "jdbc:sqlite:FILE or jdbc:postgresql://HOST:PORT/DB (default: database.url).")
        String url;

        Database open() {
            ConfigLoader loader = ConfigLoader.defaults();
            if (configFile != null) {
                loader.file(configFile);
            }
            loader.environment(System.getenv());
            if (url != null) {
                loader.set("database.url", url, "--database-url");
            }
            ServerConfig.Database d = loader.build().database();
            return Database.open(d.resolvedUrl(), d.user(), d.password());
        }
    }

    @Command(name = "create", mixinStandardHelpOptions = true, description = "Create a key and print it (shown only once).")
    static final class Create implements Callable<Integer> {
        @picocli.CommandLine.Mixin
        DatabaseOptions db = new DatabaseOptions();

        @Option(names = "--tenant", required = true, description = "The tenant the key belongs to (spend and caches are per tenant).")
        String tenant;

        @Option(names = "--name", description = "A label for people.")
        String name = "";

        @Option(names = "--models", split = ",", description = "Model names the key may use (default: all).")
        List<String> models = List.of();

        @Option(names = "--local-only", description = "Never send this key's requests to Bedrock.")
        boolean localOnly;

        @Option(names = "--rpm", description = "Requests per limit window (keys.limit-window-seconds, a minute by default); 0: no limit.")
        int rpm;

        @Option(names = "--tpm", description = "Tokens per limit window; 0: no limit.")
        long tpm;

        @Option(names = "--budget-usd", description = "Monthly budget in dollars at the router's prices; 0: none.")
        double budget;

        @Option(names = "--semantic-cache", description = "Answer this key's requests from the semantic cache unless they opt out.")
        boolean semanticCache;

        @Option(names = "--pii", description = "This key's PII action (off, flag, redact, block) instead of the server's.")
        String pii;

        @Option(names = "--pii-on-spill", description = "What of this key's personal data may reach Bedrock when it spills"
                + " (local-only, pseudonymize, redact, allow) instead of the server's router.pii-on-spill.")
        String piiOnSpill;

        @Option(names = "--log-prompts", description = "Keep this key's prompts (after input redaction) in the audit log.")
        boolean logPrompts;

        @Override
        public Integer call() {
            try (Database d = db.open()) {
                KeyStore.Created c = new KeyStore(d, Clock.systemUTC()).create(tenant, name, new LinkedHashSet<>(models), localOnly, rpm,
                        tpm, budget, semanticCache, Optional.ofNullable(pii).map(SafetyAction::parse), logPrompts,
                        Optional.ofNullable(piiOnSpill).map(PiiOnSpill::parse));
                System.out.println(c.secret());
                System.err.println("key " + c.key().id() + " for tenant " + tenant + " created; the key above is not stored and"
                        + " cannot be shown again.");
            }
            return 0;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List keys (never their secrets).")
    static final class ListKeys implements Callable<Integer> {
        @picocli.CommandLine.Mixin
        DatabaseOptions db = new DatabaseOptions();

        @Override
        public Integer call() {
            try (Database d = db.open()) {
                System.out.printf("%-12s  %-16s  %-16s  %-8s  %6s  %9s  %10s  %s%n", "ID", "TENANT", "NAME", "STATUS", "RPM", "TPM",
                        "BUDGET_USD", "MODELS");
                for (ApiKey k : new KeyStore(d, Clock.systemUTC()).list()) {
                    System.out.printf("%-12s  %-16s  %-16s  %-8s  %6d  %9d  %10.2f  %s%n", k.id(), k.tenant(), k.name(),
                            k.revoked() ? "revoked" : "active", k.rpm(), k.tpm(), k.monthlyBudgetUsd(),
                            (k.allowedModels().isEmpty() ? "*" : String.join(",", new java.util.TreeSet<>(k.allowedModels()))) + (k.localOnly() ? " (local-only)" : "")
                            + k.piiOnSpill().map(p -> " (pii-on-spill " + p.id() + ")").orElse(""));
                }
            }
            return 0;
        }
    }

    @Command(name = "revoke", mixinStandardHelpOptions = true, description = "Revoke a key by id; it stops working within seconds.")
    static final class Revoke implements Callable<Integer> {
        @picocli.CommandLine.Mixin
        DatabaseOptions db = new DatabaseOptions();

        @Parameters(index = "0", description = "The key's id (from keys list).")
        String id;

        @Override
        public Integer call() {
            try (Database d = db.open()) {
                if (!new KeyStore(d, Clock.systemUTC()).revoke(id)) {
                    throw new CliError("no active key with id " + id);
                }
                System.err.println("key " + id + " revoked at " + Instant.now());
            }
            return 0;
        }
    }
}
