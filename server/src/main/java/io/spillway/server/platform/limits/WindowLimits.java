package io.spillway.server.platform.limits;

import java.util.Optional;
import java.util.OptionalDouble;

/**
 * Requests and tokens per key per window: {@link RateLimiter} counts them in this process (per
 * replica), {@link SharedRateLimiter} in the database, across replicas.
 */
public interface WindowLimits {

    /** What admitting a request found: the limit that refuses it, if any, and the key's spend when it was read along. */
    record Admission(Optional<RateLimiter.Refusal> refusal, OptionalDouble spentUsd) {
    }

    /** Admits one request of {@code keyId} (counting it) or says which limit refuses it. */
    Optional<RateLimiter.Refusal> admit(String keyId, int rpm, long tpm);

    /**
     * As {@link #admit}, and the key's spend in {@code period} when this limiter can read it in the
     * same round trip (its windows live where spend does); empty when it cannot, and the caller reads
     * it itself.
     */
    default Admission admitAndReadSpend(String keyId, int rpm, long tpm, String period) {
        return new Admission(admit(keyId, rpm, tpm), OptionalDouble.empty());
    }

    /** Charges a finished request's tokens. */
    void charge(String keyId, long tokens);
}
