package io.spillway.server.router;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Exponential backoff with full jitter (a random wait between zero and base·2^attempt, capped),
 * the schedule AWS recommends so that many throttled clients do not retry in lockstep.
 */
public record Backoff(Duration base, Duration cap, int maxAttempts, Duration deadline) {

    public Backoff {
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("at least one attempt");
        }
    }

    /** The wait before retry number {@code retry} (1 for the first retry). */
    public Duration delay(int retry) {
        long ceiling = Math.min(cap.toMillis(), base.toMillis() << Math.min(retry - 1, 20));
        return Duration.ofMillis(ThreadLocalRandom.current().nextLong(ceiling + 1));
    }
}
