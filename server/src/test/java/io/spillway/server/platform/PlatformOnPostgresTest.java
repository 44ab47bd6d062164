package io.spillway.server.platform;

import static org.junit.jupiter.api.Assertions.fail;

import org.junit.jupiter.api.Assumptions;

/**
 * The same behaviour with keys and budgets in PostgreSQL, as replicas sharing them run. The server
 * comes from {@code SPILLWAY_TEST_POSTGRES_URL}, which {@code .ci/run} sets after starting a
 * throwaway PostgreSQL on loopback (see {@code .ci/postgres}); in CI a missing database fails the
 * run rather than skipping.
 */
class PlatformOnPostgresTest extends PlatformApiTest {

    @Override
    String databaseUrl() {
        String url = System.getenv("SPILLWAY_TEST_POSTGRES_URL");
        if (url == null || url.isBlank()) {
            if (System.getenv("CI") != null) {
                fail("SPILLWAY_TEST_POSTGRES_URL is not set: .ci/run starts PostgreSQL and sets it");
            }
            Assumptions.abort("no PostgreSQL: run .ci/postgres and export SPILLWAY_TEST_POSTGRES_URL to include these tests");
        }
        return url;
    }
}
