package io.spillway.server.platform.limits;

import io.spillway.server.platform.keys.Database;
import io.spillway.server.wire.OpenAiException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Optional;
import java.util.OptionalDouble;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Requests and tokens per key per window, counted in PostgreSQL so that every replica draws on the
 * same allowance: a key limited to N requests a window gets N in total, however many replicas serve
 * it. Each request costs one statement, which checks and counts at once (and, for a key with a
 * budget, reads its spend along, so that limits and budget together cost one round trip): an upsert of the key's row
 * that PostgreSQL runs under the row's lock against its latest committed version, so concurrent
 * replicas can neither both take the last request of a window nor lose a count.
 *
 * <p>The window is fixed, not sliding (a sliding log would need a row per request): it starts at the
 * key's first request, by the database's clock (replicas' clocks may disagree), and the next starts
 * with the first request after it has passed. So within one window a key never exceeds its limit,
 * though two adjacent windows can fall within one window's length.
 *
 * <p>While the database is unreachable, requests of limited keys are refused with 503: the limit is
 * the key owner's promise, and this keeps it rather than guessing.
 */
public final class SharedRateLimiter implements WindowLimits {

    private static final Logger LOG = LoggerFactory.getLogger(SharedRateLimiter.class);
    private static final String NOW = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

    private final Database db;
    private final long windowMillis;

    public SharedRateLimiter(Database db, Duration window) {
        if (!db.isPostgres()) {
            throw new IllegalArgumentException("shared rate limits need PostgreSQL");
        }
        this.db = db;
        this.windowMillis = Math.max(1, window.toMillis());
    }

    @Override
    public Optional<RateLimiter.Refusal> admit(String keyId, int rpm, long tpm) {
        return admitAndReadSpend(keyId, rpm, tpm, null).refusal();
    }

    /** One statement: the window checked and counted, and (with a period) the key's spend read along, for its budget. */
    @Override
    public Admission admitAndReadSpend(String keyId, int rpm, long tpm, String period) {
        if (rpm <= 0 && tpm <= 0) {
            return new Admission(Optional.empty(), OptionalDouble.empty());
        }
        String spend = period == null ? "NULL" : "(SELECT COALESCE(SUM(cost_usd), 0) FROM key_spend WHERE key_id = ? AND period = ?)";
        // expired: the window has passed, so this request starts a new one; under: both limits allow one more.
        String expired = "w.window_start + ? <= excluded.window_start";
        String under = "((? <= 0 OR w.requests < ?) AND (? <= 0 OR w.tokens < ?))";
        String sql = "INSERT INTO rate_windows AS w (key_id, window_start, requests, tokens, admitted) VALUES (?, " + NOW + ", 1, 0, TRUE)"
                + " ON CONFLICT (key_id) DO UPDATE SET"
                + " window_start = CASE WHEN " + expired + " THEN excluded.window_start ELSE w.window_start END,"
                + " requests = CASE WHEN " + expired + " THEN 1 WHEN " + under + " THEN w.requests + 1 ELSE w.requests END,"
                + " tokens = CASE WHEN " + expired + " THEN 0 ELSE w.tokens END,"
                + " admitted = (" + expired + ") OR " + under
                + " RETURNING admitted, requests, tokens, window_start, " + NOW + ", " + spend;
        try (Connection c = db.connection(); PreparedStatement s = c.prepareStatement(sql)) {
            int i = 1;
            s.setString(i++, keyId);
            s.setLong(i++, windowMillis);
            s.setLong(i++, windowMillis);
            i = limits(s, i, rpm, tpm);
            s.setLong(i++, windowMillis);
            s.setLong(i++, windowMillis);
            i = limits(s, i, rpm, tpm);
            if (period != null) {
                s.setString(i++, keyId);
                s.setString(i, period);
            }
            try (ResultSet r = s.executeQuery()) {
                r.next();
                OptionalDouble spent = period == null ? OptionalDouble.empty() : OptionalDouble.of(r.getDouble(6));
                if (r.getBoolean(1)) {
                    return new Admission(Optional.empty(), spent);
                }
                long requests = r.getLong(2);
                long tokens = r.getLong(3);
                double retryAfter = Math.max(0.001, (r.getLong(4) + windowMillis - r.getLong(5)) / 1000.0);
                return new Admission(Optional.of(rpm > 0 && requests >= rpm ? new RateLimiter.Refusal("requests", requests, rpm, retryAfter)
                        : new RateLimiter.Refusal("tokens", tokens, tpm, retryAfter)), spent);
            }
        } catch (SQLException e) {
            throw new OpenAiException(503, "server_error", "This API key's rate limits are counted in the database, which cannot be"
                    + " reached: " + e.getMessage() + ". Retry shortly.", null, "limits_unavailable", 2);
        }
    }

    private static int limits(PreparedStatement s, int i, int rpm, long tpm) throws SQLException {
        s.setInt(i++, rpm);
        s.setInt(i++, rpm);
        s.setLong(i++, tpm);
        s.setLong(i++, tpm);
        return i;
    }

    @Override
    public void charge(String keyId, long tokens) {
        if (tokens <= 0) {
            return;
        }
        String expired = "w.window_start + ? <= excluded.window_start";
        String sql = "INSERT INTO rate_windows AS w (key_id, window_start, requests, tokens, admitted) VALUES (?, " + NOW + ", 0, ?, TRUE)"
                + " ON CONFLICT (key_id) DO UPDATE SET"
                + " window_start = CASE WHEN " + expired + " THEN excluded.window_start ELSE w.window_start END,"
                + " requests = CASE WHEN " + expired + " THEN 0 ELSE w.requests END,"
                + " tokens = CASE WHEN " + expired + " THEN excluded.tokens ELSE w.tokens + excluded.tokens END";
        try (Connection c = db.connection(); PreparedStatement s = c.prepareStatement(sql)) {
            s.setString(1, keyId);
            s.setLong(2, tokens);
            s.setLong(3, windowMillis);
            s.setLong(4, windowMillis);
            s.setLong(5, windowMillis);
            s.executeUpdate();
        } catch (SQLException e) {
            // The answer was delivered; the tokens go uncounted, as they would in a replica that crashed.
            LOG.error("rate limits: charging {} tokens to key {} failed: {}", tokens, keyId, e.getMessage());
        }
    }
}
