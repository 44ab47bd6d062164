package io.spillway.server.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.models.attention.AttentionChoice;
import org.junit.jupiter.api.Test;

/** model.attention: auto by default (the target's backend), any backend by name, anything else refused at start. */
class AttentionConfigTest {

    @Test
    void autoByDefaultAndEachBackendByName() {
        assertNull(ConfigLoader.defaults().build().model().attentionChoice(), "auto: the target decides");
        for (AttentionChoice choice : AttentionChoice.values()) {
            ServerConfig config = ConfigLoader.defaults().set("model.attention", choice.configName(), "test").build();
            assertEquals(choice, config.model().attentionChoice());
        }
    }

    @Test
    void anUnknownBackendIsRefusedNamingTheChoices() {
        Exception e = assertThrows(ConfigException.class,
                () -> ConfigLoader.defaults().set("model.attention", "flash", "test").build());
        assertTrue(e.getMessage().contains("model.attention must be auto, gather, gather-native, blocks-matmul or blocks-sdpa, not 'flash'"), e.getMessage());
    }
}
