package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDArray;
import io.spillway.models.runtime.TorchRuntime;
import java.util.ArrayList;
import java.util.List;

/** Checks that a loaded model's projection weights are in the layout a test asked for, so it runs the branch it claims to. */
final class ProjectionLayouts {

    private ProjectionLayouts() {
    }

    /**
     * LINEAR: every projection weight is 2-D (the script's {@code torch.linear}). The row-block
     * layouts: every one is 3-D (its {@code bmm}), which needs more than one intra-op thread and row
     * counts two divides (the tiny test models' do); skipped otherwise. Only ROW_BLOCKS_AND_ONEDNN
     * packs a float32 model's projections for oneDNN, four per layer and the LM head.
     */
    static void requireApplied(DecoderModel model, ProjectionLayout layout) {
        assertEquals(layout, model.projectionLayout());
        if (layout.rowBlocks()) {
            assumeTrue(TorchRuntime.intraOpThreads() > 1, "row blocks need more than one intra-op thread");
        }
        int rank = layout == ProjectionLayout.LINEAR ? 2 : 3;
        DecoderConstants constants = model.constants();
        List<NDArray> weights = new ArrayList<>(List.of(constants.lmHead()));
        for (LayerWeights layer : constants.layers()) {
            weights.addAll(List.of(layer.qkv(), layer.output(), layer.gateUp(), layer.down()));
        }
        for (NDArray weight : weights) {
            assertEquals(rank, weight.getShape().dimension(), layout + ": projection weight " + weight.getShape());
        }
        boolean packs = layout == ProjectionLayout.ROW_BLOCKS_AND_ONEDNN && model.target().dtype() == ai.djl.ndarray.types.DataType.FLOAT32;
        assertEquals(packs ? 4 * constants.layers().size() + 1 : 0, constants.onednn().size(), layout + ": oneDNN entries");
    }
}
