package io.spillway.server.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.models.arch.ProjectionLayout;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** model.projections: auto by default (the target's layout), each layout by name, anything else refused at start. */
class ProjectionsConfigTest {

    @Test
    void autoByDefaultAndEachLayoutByName() {
        assertNull(ConfigLoader.defaults().build().model().projectionLayout(), "auto: the target decides");
        Map<String, ProjectionLayout> names = Map.of("linear", ProjectionLayout.LINEAR, "row-blocks", ProjectionLayout.ROW_BLOCKS,
                "row-blocks+onednn", ProjectionLayout.ROW_BLOCKS_AND_ONEDNN);
        assertEquals(ProjectionLayout.values().length, names.size(), "every layout has a name");
        names.forEach((name, layout) ->
                assertEquals(layout, ConfigLoader.defaults().set("model.projections", name, "test").build().model().projectionLayout()));
    }

    @Test
    void anUnknownLayoutIsRefusedNamingTheChoices() {
        Exception e = assertThrows(ConfigException.class,
                () -> ConfigLoader.defaults().set("model.projections", "prepacked", "test").build());
        assertTrue(e.getMessage().contains("model.projections must be auto, linear, row-blocks or row-blocks+onednn, not 'prepacked'"),
                e.getMessage());
    }
}
