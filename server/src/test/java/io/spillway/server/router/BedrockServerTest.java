package io.spillway.server.router;

import io.spillway.server.SpillwayServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;

/** What router tests share: SDK credentials for the fake, and a server and a fake Bedrock stopped after each test. */
abstract class BedrockServerTest {

    protected FakeBedrock fake;
    protected SpillwayServer server;

    @BeforeAll
    static void credentials() {
        FakeBedrock.installTestCredentials();
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        if (fake != null) {
            fake.close();
        }
    }
}
