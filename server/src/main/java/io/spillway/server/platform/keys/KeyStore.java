package io.spillway.server.platform.keys;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.spillway.server.generation.PiiOnSpill;
import io.spillway.server.platform.safety.SafetyAction;
import java.security.SecureRandom;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * API keys in the database. A key is {@code sk-spw-<id>-<secret>}; only the SHA-256 of the whole
 * key is stored (the secret has 192 random bits, so a plain hash cannot be reversed by search), and
 * the key is shown once, at creation. Lookups are cached briefly, so a revocation takes effect on
 * every replica within {@link #LOOKUP_TTL}.
 */
public final class KeyStore {

    public static final Duration LOOKUP_TTL = Duration.ofSeconds(2);
    private static final String PREFIX = "sk-spw-";

    /** A new key: its record and the secret, which is never available again. */
    public record Created(ApiKey key, String secret) {
    }

    private final Database db;
    private final Clock clock;
    private final SecureRandom random = new SecureRandom();
    private final Cache<String, Optional<ApiKey>> byHash;
    private volatile long activeKeysCheckedAt;
    private volatile boolean anyActive;

    public KeyStore(Database db, Clock clock) {
        this.db = db;
        this.clock = clock;
        this.byHash = Caffeine.newBuilder().expireAfterWrite(LOOKUP_TTL).maximumSize(100_000).build();
    }

    public Created create(String tenant, String name, Set<String> models, boolean localOnly, int rpm, long tpm, double budgetUsd,
                          boolean semanticCache, Optional<SafetyAction> pii, boolean logPrompts, Optional<PiiOnSpill> piiOnSpill) {
        if (tenant == null || tenant.isBlank()) {
            throw new IllegalArgumentException("a key needs a tenant");
        }
        if (rpm < 0 || tpm < 0 || budgetUsd < 0) {
            throw new IllegalArgumentException("limits and budgets must not be negative");
        }
        byte[] idBytes = new byte[6];
        byte[] secretBytes = new byte[24];
        random.nextBytes(idBytes);
        random.nextBytes(secretBytes);
        String id = HexFormat.of().formatHex(idBytes);
        String secret = PREFIX + id + "-" + java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(secretBytes);
        long now = clock.millis();
        ApiKey key = new ApiKey(id, tenant, name == null ? "" : name, models, localOnly, rpm, tpm, budgetUsd, semanticCache, pii,
                logPrompts, piiOnSpill, now, null);
        db.run(c -> {
            try (PreparedStatement s = c.prepareStatement("INSERT INTO api_keys (id, secret_hash, tenant, name, allowed_models,"
                    + " local_only, rpm, tpm, monthly_budget_usd, semantic_cache, pii_action, log_prompts, created_at, revoked_at,"
                    + " pii_on_spill) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)")) {
                s.setString(1, id);
                s.setString(2, Sha256.hex(secret));
                s.setString(3, tenant);
                s.setString(4, key.name());
                s.setString(5, String.join(",", models));
                s.setBoolean(6, localOnly);
                s.setInt(7, rpm);
                s.setLong(8, tpm);
                s.setDouble(9, budgetUsd);
                s.setBoolean(10, semanticCache);
                s.setString(11, pii.map(SafetyAction::id).orElse(""));
                s.setBoolean(12, logPrompts);
                s.setLong(13, now);
                s.setString(14, piiOnSpill.map(PiiOnSpill::id).orElse(""));
                s.executeUpdate();
            }
            return null;
        });
        anyActive = true;
        return new Created(key, secret);
    }

    /** The active key a presented secret belongs to, or empty (unknown or revoked). */
    public Optional<ApiKey> authenticate(String secret) {
        if (secret == null || !secret.startsWith(PREFIX)) {
            return Optional.empty();
        }
        String h = Sha256.hex(secret);
        try {
            return byHash.get(h, k -> db.run(c -> {
                try (PreparedStatement s = c.prepareStatement("SELECT * FROM api_keys WHERE secret_hash = ? AND revoked_at IS NULL")) {
                    s.setString(1, k);
                    try (ResultSet r = s.executeQuery()) {
                        return r.next() ? Optional.of(read(r)) : Optional.empty();
                    }
                }
            }));
        } catch (IllegalStateException e) {
            if (Database.unreachable(e)) {
                throw unavailable(e);
            }
            throw e;
        }
    }

    /** A key cannot be checked while the database is down: a 503 to retry, not a fault. */
    private static io.spillway.server.wire.OpenAiException unavailable(RuntimeException e) {
        return new io.spillway.server.wire.OpenAiException(503, "server_error", "API keys are kept in the database, which cannot be"
                + " reached. Retry shortly.", null, "keys_unavailable", 2);
    }

    /** Whether any key is active: then the API requires one. Checked against the database at most every {@link #LOOKUP_TTL}. */
    public boolean anyActive() {
        long now = System.nanoTime();
        if (now - activeKeysCheckedAt > LOOKUP_TTL.toNanos()) {
            try {
                anyActive = db.run(c -> {
                    try (PreparedStatement s = c.prepareStatement("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1");
                         ResultSet r = s.executeQuery()) {
                        return r.next();
                    }
                });
            } catch (IllegalStateException e) {
                // While the database is down, the last answer stands (keys are rarely created or all
                // revoked during an outage); with no answer yet, the request cannot be judged.
                if (!Database.unreachable(e) || activeKeysCheckedAt == 0) {
                    throw Database.unreachable(e) ? unavailable(e) : e;
                }
                return anyActive;
            }
            activeKeysCheckedAt = now;
        }
        return anyActive;
    }

    public List<ApiKey> list() {
        return db.run(c -> {
            List<ApiKey> out = new ArrayList<>();
            try (PreparedStatement s = c.prepareStatement("SELECT * FROM api_keys ORDER BY created_at, id"); ResultSet r = s.executeQuery()) {
                while (r.next()) {
                    out.add(read(r));
                }
            }
            return out;
        });
    }

    /** Revokes a key by id; false when there is no such active key. */
    public boolean revoke(String id) {
        boolean done = db.run(c -> {
            try (PreparedStatement s = c.prepareStatement("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")) {
                s.setLong(1, clock.millis());
                s.setString(2, id);
                return s.executeUpdate() == 1;
            }
        });
        byHash.invalidateAll();
        activeKeysCheckedAt = 0;
        return done;
    }

    private static ApiKey read(ResultSet r) throws SQLException {
        String models = r.getString("allowed_models");
        Set<String> allowed = models.isEmpty() ? Set.of() : new LinkedHashSet<>(Arrays.asList(models.split(",")));
        String pii = r.getString("pii_action");
        String onSpill = r.getString("pii_on_spill");
        long revoked = r.getLong("revoked_at");
        Long revokedAt = r.wasNull() ? null : revoked;
        return new ApiKey(r.getString("id"), r.getString("tenant"), r.getString("name"), allowed, r.getBoolean("local_only"),
                r.getInt("rpm"), r.getLong("tpm"), r.getDouble("monthly_budget_usd"), r.getBoolean("semantic_cache"),
                pii.isEmpty() ? Optional.empty() : Optional.of(SafetyAction.parse(pii)), r.getBoolean("log_prompts"),
                onSpill.isEmpty() ? Optional.empty() : Optional.of(PiiOnSpill.parse(onSpill)), r.getLong("created_at"), revokedAt);
    }

}
