package io.spillway.server.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import io.spillway.models.runtime.ComputeTarget;
import org.junit.jupiter.api.Test;

/** model.dtype: auto by default, bfloat16 by name as the server resolves it at start, anything else refused naming the choices. */
class DtypeConfigTest {

    @Test
    void autoByDefaultAndBfloat16ByName() {
        assertEquals("auto", ConfigLoader.defaults().build().model().dtype());
        ServerConfig config = ConfigLoader.defaults().set("model.dtype", "bfloat16", "test").build();
        assertEquals(DataType.BFLOAT16, ComputeTarget.resolve("cpu", config.model().dtype()).dtype());
    }

    @Test
    void anUnknownDtypeNamesTheChoices() {
        ServerConfig config = ConfigLoader.defaults().set("model.dtype", "bf8", "test").build();
        Exception e = assertThrows(IllegalArgumentException.class, () -> ComputeTarget.resolve("cpu", config.model().dtype()));
        assertTrue(e.getMessage().contains("auto, float32, float16, bfloat16"), e.getMessage());
    }
}
