package io.spillway.server.platform.limits;

import java.util.Optional;

/**
 * Requests and tokens per key per window: {@link RateLimiter} counts them in this process (per
 * replica), {@link SharedRateLimiter} in the database, across replicas.
 */
public interface WindowLimits {

    /** Admits one request of {@code keyId} (counting it) or says which limit refuses it. */
    Optional<RateLimiter.Refusal> admit(String keyId, int rpm, long tpm);

    /** Charges a finished request's tokens. */
    void charge(String keyId, long tokens);
}
