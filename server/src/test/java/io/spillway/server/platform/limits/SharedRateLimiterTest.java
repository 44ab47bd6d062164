package io.spillway.server.platform.limits;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.server.platform.keys.Database;
import io.spillway.server.testing.TestPostgres;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * Rate-limit windows counted in PostgreSQL: replicas racing for a key's last requests never admit
 * more than its limit between them, tokens count across replicas, and a window that has passed
 * starts a new one.
 */
class SharedRateLimiterTest {

    @Test
    void racingReplicasAdmitExactlyTheLimitBetweenThemAndTheWindowRenews() throws Exception {
        String url = TestPostgres.freshDatabase("limits");
        try (Database one = Database.open(url, "", ""); Database two = Database.open(url, "", "")) {
            // Two replicas: two pools, two limiters, one table.
            List<SharedRateLimiter> replicas = List.of(new SharedRateLimiter(one, Duration.ofSeconds(2)),
                    new SharedRateLimiter(two, Duration.ofSeconds(2)));
            CountDownLatch go = new CountDownLatch(1);
            List<Future<Boolean>> tries = new ArrayList<>();
            try (ExecutorService pool = Executors.newFixedThreadPool(16)) {
                for (int i = 0; i < 200; i++) {
                    SharedRateLimiter l = replicas.get(i % 2);
                    tries.add(pool.submit(() -> {
                        go.await();
                        return l.admit("key-1", 50, 0).isEmpty();
                    }));
                }
                go.countDown();
                int admitted = 0;
                for (Future<Boolean> f : tries) {
                    admitted += f.get() ? 1 : 0;
                }
                assertEquals(50, admitted, "200 racing requests, limit 50");
            }
            Optional<RateLimiter.Refusal> refused = replicas.get(0).admit("key-1", 50, 0);
            assertEquals("requests", refused.orElseThrow().limit());
            assertEquals(50, refused.get().used());
            assertTrue(refused.get().retryAfterSeconds() > 0 && refused.get().retryAfterSeconds() <= 2, refused.toString());

            // Tokens charged on one replica count on the other.
            assertTrue(replicas.get(0).admit("key-2", 0, 100).isEmpty());
            replicas.get(0).charge("key-2", 120);
            RateLimiter.Refusal tokens = replicas.get(1).admit("key-2", 0, 100).orElseThrow();
            assertEquals("tokens", tokens.limit());
            assertEquals(120, tokens.used());

            // Each key's window started with its first request; once it has passed, a new one starts.
            Thread.sleep((long) (Math.max(refused.get().retryAfterSeconds(), tokens.retryAfterSeconds()) * 1000) + 50);
            assertTrue(replicas.get(1).admit("key-1", 50, 0).isEmpty(), "a new window once the last has passed");
            assertTrue(replicas.get(0).admit("key-2", 0, 100).isEmpty());
        } finally {
            TestPostgres.drop(url);
        }
    }

    @Test
    void aKeysSpendComesBackWithItsWindowInOneStatement() throws Exception {
        String url = TestPostgres.freshDatabase("limitspend");
        try (Database db = Database.open(url, "", "")) {
            SharedRateLimiter limiter = new SharedRateLimiter(db, Duration.ofMinutes(1));
            SpendLedger ledger = new SpendLedger(db, java.time.Clock.systemUTC());
            String period = ledger.currentPeriod().toString();
            WindowLimits.Admission fresh = limiter.admitAndReadSpend("key-9", 10, 0, period);
            assertTrue(fresh.refusal().isEmpty());
            assertEquals(0.0, fresh.spentUsd().orElseThrow(), "no spend yet, read along");
            ledger.charge("key-9", 0.25, 10, 20);
            assertEquals(0.25, limiter.admitAndReadSpend("key-9", 10, 0, period).spentUsd().orElseThrow(), 1e-12);
            assertTrue(limiter.admitAndReadSpend("key-9", 10, 0, "1999-01").spentUsd().orElseThrow() == 0, "per period");
            assertTrue(limiter.admitAndReadSpend("key-9", 0, 0, period).spentUsd().isEmpty(), "no limits: no statement, the ledger reads");
        } finally {
            TestPostgres.drop(url);
        }
    }
}
