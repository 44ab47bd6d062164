package io.spillway.server.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** What the acceptance run calls a pass: the judgement itself, on rows whose differences are known. */
class DeviceAcceptanceComparisonTest {

    private static final float[][] REFERENCE = {{1f, 10f, -4f, 2f}, {-8f, 0.5f, 3f, 7.9f}};

    @Test
    void differencesAreMeasuredAgainstEachRowsLargestLogit() {
        DeviceAcceptance.Comparison c = new DeviceAcceptance.Comparison();
        c.add(REFERENCE, new float[][] {{1f, 10.2f, -4f, 2f}, {-8f, 0.5f, 3f, 7.9f}});
        DeviceAcceptance.Parity p = c.result("x", 5e-2, false);
        assertEquals(0.02, p.maxRelativeDiff(), 1e-6);
        assertEquals(2, p.argmaxAgree());
        assertTrue(p.passed());
        assertFalse(c.result("x", 1e-2, false).passed(), "0.2 of 10 is over a 1e-2 tolerance");
    }

    @Test
    void aRowComputedFromTheWrongWeightsFails() {
        DeviceAcceptance.Comparison c = new DeviceAcceptance.Comparison();
        c.add(REFERENCE, new float[][] {{10f, 1f, 2f, -4f}, {-8f, 0.5f, 3f, 7.9f}});
        DeviceAcceptance.Parity p = c.result("x", 5e-2, false);
        assertEquals(0.9, p.maxRelativeDiff(), 1e-6);
        assertFalse(p.passed());
    }

    @Test
    void aNanOrInfiniteRowFailsWhateverTheTolerance() {
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY}) {
            DeviceAcceptance.Comparison c = new DeviceAcceptance.Comparison();
            c.add(REFERENCE, new float[][] {{1f, 10f, -4f, 2f}, {-8f, bad, 3f, 7.9f}});
            assertFalse(c.result("x", 1e9, false).passed(), "a row holding " + bad);
        }
    }

    @Test
    void float32RequiresEveryPickWithinTolerance() {
        DeviceAcceptance.Comparison c = new DeviceAcceptance.Comparison();
        // 7.9 and 8.0 swap the second row's pick with a difference of 1e-2 of its scale.
        c.add(REFERENCE, new float[][] {{1f, 10f, -4f, 2f}, {-8f, 0.5f, 3f, 7.82f}});
        c.add(new float[][] {{0f, 8f, 7.95f}}, new float[][] {{0f, 7.94f, 7.95f}});
        assertEquals(2, c.result("x", 1, false).argmaxAgree());
        assertTrue(c.result("x", 1, false).passed(), "16-bit: picks are counted, not required");
        assertFalse(c.result("x", 1, true).passed(), "float32: every pick is required");
    }
}
