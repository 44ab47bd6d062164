package io.spillway.models.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.spillway.models.checkpoint.ConfigJson;
import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.kv.KvCacheSpec;
import org.junit.jupiter.api.Test;

/** The dtype "auto" picks, its names, and what a bfloat16 target is held as and sized by. */
class ComputeTargetTest {

    @Test
    void autoIsBfloat16FromAmpereOnFloat16BeforeAndFloat32OnTheCpu() {
        assertEquals(DataType.FLOAT32, ComputeTarget.autoDtype(false, 0));
        assertEquals(DataType.FLOAT16, ComputeTarget.autoDtype(true, 75), "Turing (T4)");
        assertEquals(DataType.FLOAT16, ComputeTarget.autoDtype(true, 0), "an unreadable capability");
        assertEquals(DataType.BFLOAT16, ComputeTarget.autoDtype(true, 80), "A100");
        assertEquals(DataType.BFLOAT16, ComputeTarget.autoDtype(true, 89), "L4");
        assertEquals(DataType.BFLOAT16, ComputeTarget.autoDtype(true, 90), "H100");
        assertEquals(DataType.FLOAT32, ComputeTarget.resolve("cpu", "auto").dtype(), "the CPU keeps float32");
    }

    @Test
    void bfloat16IsNamedHeldAsAFloat16ContainerAndSizedAtTwoBytes() {
        assertEquals(DataType.BFLOAT16, ComputeTarget.resolve("cpu", "bfloat16").dtype());
        assertEquals(DataType.BFLOAT16, ComputeTarget.resolve("cpu", "BF16").dtype());
        ComputeTarget bf16 = new ComputeTarget(Device.cpu(), DataType.BFLOAT16);
        assertEquals(DataType.FLOAT16, bf16.heldAs());
        assertEquals(DataType.FLOAT32, ComputeTarget.cpuFloat32().heldAs());
        ModelConfig config = ModelConfig.parse(ConfigJson.llama(64, 112, 3, 4, 2, 96, 256, false));
        assertEquals(KvCacheSpec.bytesPerBlock(config, 16, DataType.FLOAT32) / 2, KvCacheSpec.bytesPerBlock(config, 16, DataType.BFLOAT16));
        assertEquals(KvCacheSpec.bytesPerBlock(config, 16, DataType.FLOAT16), KvCacheSpec.bytesPerBlock(config, 16, DataType.BFLOAT16));
    }
}
