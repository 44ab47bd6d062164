package io.spillway.server.platform;

import io.spillway.server.testing.TestPostgres;

/**
 * The same behaviour with keys and budgets in PostgreSQL, as replicas sharing them run. The server
 * comes from {@code SPILLWAY_TEST_POSTGRES_URL}, which {@code .ci/run} sets after starting a
 * throwaway PostgreSQL on loopback (see {@code .ci/postgres}); in CI a missing database fails the
 * run rather than skipping.
 */
class PlatformOnPostgresTest extends PlatformApiTest {

    @Override
    String databaseUrl() {
        return TestPostgres.url();
    }
}
