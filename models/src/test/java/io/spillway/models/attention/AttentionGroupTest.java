package io.spillway.models.attention;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.runtime.TorchRuntime;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A gathered group's masks are held to the one shape the decoder script broadcasts over its scores,
 * {@code [sequences, 1, queries, context]}: a mask with the right number of entries in another
 * shape would fail inside the script, or with one sequence broadcast over the wrong axes.
 */
class AttentionGroupTest {

    private static final int SEQUENCES = 2;
    private static final int QUERIES = 3;
    private static final int CONTEXT = 5;

    @Test
    void aGatheredGroupTakesMasksShapedSequencesOneQueriesContext() {
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager()) {
            assertDoesNotThrow(() -> group(m, m.zeros(new Shape(SEQUENCES, 1, QUERIES, CONTEXT))));
            assertDoesNotThrow(() -> group(m, m.zeros(new Shape(0))), "an empty mask: none needed");
            IllegalArgumentException fiveAxes = assertThrows(IllegalArgumentException.class,
                    () -> group(m, m.zeros(new Shape(SEQUENCES, 1, 1, QUERIES, CONTEXT))));
            assertTrue(fiveAxes.getMessage().contains("(2, 1, 3, 5)"), fiveAxes.getMessage());
            assertThrows(IllegalArgumentException.class, () -> group(m, m.zeros(new Shape(SEQUENCES, QUERIES, 1, CONTEXT))),
                    "same entries, queries on the heads' axis");
        }
    }

    private static AttentionGroup group(NDManager m, NDArray mask) {
        NDArray slots = m.zeros(new Shape((long) SEQUENCES * CONTEXT), DataType.INT64);
        NDArray none = m.zeros(new Shape(0), DataType.INT64);
        return new AttentionGroup(slots, none, none, List.of(mask), none, AttentionGroup.Mode.GATHERED_SLOTS, 16, SEQUENCES, QUERIES,
                CONTEXT, 0, SEQUENCES * QUERIES);
    }
}
