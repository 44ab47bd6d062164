package io.spillway.server.bench;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.testing.StoriesReference;
import org.junit.jupiter.api.Test;

/**
 * {@code spillway acceptance --dtype bfloat16} on the CPU: the GPU's code path (linear weights,
 * block-table attention through SDPA) in bfloat16 passes stories260K's parity within bfloat16's
 * tolerance, and that tolerance would still fail a row computed from the wrong weights.
 */
class DeviceAcceptanceBfloat16Test {

    @Test
    void bfloat16PassesStoriesParityWithinItsOwnTolerance() {
        DeviceAcceptance acceptance = new DeviceAcceptance(new ComputeTarget(Device.cpu(), DataType.BFLOAT16), System.out);
        for (DeviceAcceptance.Parity p : acceptance.storiesParity(StoriesReference.load().directory())) {
            System.out.println(p.line());
            assertTrue(p.passed(), p.line());
        }
        assertTrue(DeviceAcceptance.tolerance(DataType.BFLOAT16) < 0.5, "a wrong kernel misses by ~1 of the row's scale");
    }
}
