package io.spillway.server.platform.limits;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * Requests and tokens per key over a sliding window (a log of what each key used, trimmed as it
 * ages out). A request is admitted while the key's requests and tokens in the last window are under
 * its limits; tokens are charged when the response ends, since only then are they known. Counts are
 * per replica ({@code keys.limit-scope: replica}): with N replicas behind a balancer a key gets up
 * to N times its limit; {@link SharedRateLimiter} counts across replicas in PostgreSQL.
 */
public final class RateLimiter implements WindowLimits {

    /** Which limit refused a request, and when to retry. */
    public record Refusal(String limit, long used, long allowed, double retryAfterSeconds) {
    }

    private record Use(long nanos, long tokens) {
    }

    private static final class Window {
        final Deque<Use> requests = new ArrayDeque<>();
        final Deque<Use> tokens = new ArrayDeque<>();
        long tokenSum;
    }

    private final long windowNanos;
    private final ConcurrentMap<String, Window> windows = new ConcurrentHashMap<>();

    public RateLimiter(Duration window) {
        this.windowNanos = window.toNanos();
    }

    @Override
    public Optional<Refusal> admit(String keyId, int rpm, long tpm) {
        if (rpm <= 0 && tpm <= 0) {
            return Optional.empty();
        }
        Window w = windows.computeIfAbsent(keyId, k -> new Window());
        long now = System.nanoTime();
        synchronized (w) {
            trim(w, now);
            if (rpm > 0 && w.requests.size() >= rpm) {
                return Optional.of(new Refusal("requests", w.requests.size(), rpm, retryAfter(w.requests.peekFirst(), now)));
            }
            if (tpm > 0 && w.tokenSum >= tpm) {
                // Retry once enough of the oldest usage has aged out to go under the limit.
                long excess = w.tokenSum - tpm + 1;
                Use last = null;
                for (Use u : w.tokens) {
                    excess -= u.tokens();
                    last = u;
                    if (excess <= 0) {
                        break;
                    }
                }
                return Optional.of(new Refusal("tokens", w.tokenSum, tpm, retryAfter(last, now)));
            }
            w.requests.addLast(new Use(now, 0));
        }
        return Optional.empty();
    }

    @Override
    public void charge(String keyId, long tokens) {
        if (tokens <= 0) {
            return;
        }
        Window w = windows.computeIfAbsent(keyId, k -> new Window());
        long now = System.nanoTime();
        synchronized (w) {
            trim(w, now);
            w.tokens.addLast(new Use(now, tokens));
            w.tokenSum += tokens;
        }
    }

    private void trim(Window w, long now) {
        while (!w.requests.isEmpty() && now - w.requests.peekFirst().nanos() >= windowNanos) {
            w.requests.removeFirst();
        }
        while (!w.tokens.isEmpty() && now - w.tokens.peekFirst().nanos() >= windowNanos) {
            w.tokenSum -= w.tokens.removeFirst().tokens();
        }
    }

    private double retryAfter(Use oldest, long now) {
        return oldest == null ? 1 : Math.max(0.001, (oldest.nanos() + windowNanos - now) / 1e9);
    }
}
