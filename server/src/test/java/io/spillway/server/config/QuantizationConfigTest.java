package io.spillway.server.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.models.arch.Quantization;
import org.junit.jupiter.api.Test;

/** model.quantization: none by default, int8 with its options or an int4 checkpoint's lm-head=int8, anything else refused at start. */
class QuantizationConfigTest {

    @Test
    void noneByDefaultAndEachChoiceByName() {
        assertEquals(Quantization.NONE, ConfigLoader.defaults().build().model().weightQuantization());
        assertEquals(Quantization.INT8, quantization("int8"));
        assertEquals(new Quantization(true, false, true), quantization("int8,lm-head=float,embeddings=int8"));
        assertEquals(Quantization.LM_HEAD_INT8, quantization("lm-head=int8"));
    }

    @Test
    void anUnknownChoiceIsRefusedNamingTheChoices() {
        Exception e = assertThrows(ConfigException.class, () -> quantization("int4"));
        assertTrue(e.getMessage().contains("model.quantization must be none, int8 (optionally int8,lm-head=float and/or int8,embeddings=int8)"
                + " or lm-head=int8, not 'int4'"), e.getMessage());
    }

    private static Quantization quantization(String value) {
        return ConfigLoader.defaults().set("model.quantization", value, "test").build().model().weightQuantization();
    }
}
