package io.spillway.server.platform.limits;

import io.spillway.server.platform.keys.Database;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Clock;
import java.time.YearMonth;
import java.time.ZoneOffset;

/**
 * What each key spent per calendar month (UTC), in the database: budgets survive restarts and are
 * shared by every replica on the same database. Charges are atomic increments, so concurrent
 * replicas never lose one.
 */
public final class SpendLedger {

    /** A key's spend in one month. */
    public record Spend(double costUsd, long promptTokens, long completionTokens, long requests) {
    }

    private final Database db;
    private final Clock clock;

    public SpendLedger(Database db, Clock clock) {
        this.db = db;
        this.clock = clock;
    }

    public YearMonth currentPeriod() {
        return YearMonth.now(clock.withZone(ZoneOffset.UTC));
    }

    /** Seconds until the current period ends (when a spent budget renews). */
    public double secondsToNextPeriod() {
        YearMonth next = currentPeriod().plusMonths(1);
        return Math.max(1, next.atDay(1).atStartOfDay(ZoneOffset.UTC).toEpochSecond() - clock.instant().getEpochSecond());
    }

    public Spend spent(String keyId) {
        return db.run(c -> {
            try (PreparedStatement s = c.prepareStatement("SELECT cost_usd, prompt_tokens, completion_tokens, requests FROM key_spend"
                    + " WHERE key_id = ? AND period = ?")) {
                s.setString(1, keyId);
                s.setString(2, currentPeriod().toString());
                try (ResultSet r = s.executeQuery()) {
                    return r.next() ? new Spend(r.getDouble(1), r.getLong(2), r.getLong(3), r.getLong(4)) : new Spend(0, 0, 0, 0);
                }
            }
        });
    }

    public void charge(String keyId, double costUsd, long promptTokens, long completionTokens) {
        db.run(c -> {
            try (PreparedStatement s = c.prepareStatement("INSERT INTO key_spend (key_id, period, cost_usd, prompt_tokens,"
                    + " completion_tokens, requests) VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (key_id, period) DO UPDATE SET"
                    + " cost_usd = key_spend.cost_usd + excluded.cost_usd, prompt_tokens = key_spend.prompt_tokens + excluded.prompt_tokens,"
                    + " completion_tokens = key_spend.completion_tokens + excluded.completion_tokens, requests = key_spend.requests + 1")) {
                s.setString(1, keyId);
                s.setString(2, currentPeriod().toString());
                s.setDouble(3, costUsd);
                s.setLong(4, promptTokens);
                s.setLong(5, completionTokens);
                s.executeUpdate();
            }
            return null;
        });
    }
}
