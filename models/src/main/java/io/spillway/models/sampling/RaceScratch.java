package io.spillway.models.sampling;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.List;

/**
 * The working memory of the sampler script's whole-vocabulary races, kept from one call to the
 * next: per raced row, its logits and a float32 temporary, its weights (float64, padded to whole
 * groups of {@link Sampler#GROUP}), a float64 temporary and a mask; and the vocabulary's ids, 0 to
 * vocab - 1, which the script only reads. About 25 bytes per raced logit (15 MB at 4 rows of
 * Qwen3's 151,936). Were they allocated by every call, blocks that size would go back to the system
 * when freed and be faulted in again page by page, which after a forward pass's allocations costs
 * the CPU sampler as much as its arithmetic.
 *
 * <p>Ownership: the tensors belong to this object's manager until {@link #close}, or until a call
 * with other dimensions replaces them. The script overwrites all but the ids; nothing it writes
 * outlives a call.
 */
final class RaceScratch implements AutoCloseable {

    private final NDManager parent;
    private final Device device;
    private NDManager owner;
    private List<NDArray> tensors = List.of();
    private int rows;
    private int vocab;

    RaceScratch(NDManager parent, Device device) {
        this.parent = parent;
        this.device = device;
    }

    /** The scratch for races of up to {@code rows} rows of {@code vocab} logits, allocated when the dimensions change. */
    List<NDArray> tensors(int rows, int vocab) {
        if (rows != this.rows || vocab != this.vocab) {
            close();
            owner = parent.newSubManager(device);
            long padded = (long) Math.ceilDiv(vocab, Sampler.GROUP) * Sampler.GROUP;
            tensors = List.of(
                    owner.create(new Shape(rows, vocab), DataType.FLOAT32, device),
                    owner.create(new Shape(rows, vocab), DataType.FLOAT32, device),
                    owner.create(new Shape(rows, padded), DataType.FLOAT64, device),
                    owner.create(new Shape(rows, vocab), DataType.FLOAT64, device),
                    owner.create(new Shape(rows, vocab), DataType.BOOLEAN, device),
                    owner.arange(0, vocab, 1, DataType.INT64, device));
            this.rows = rows;
            this.vocab = vocab;
        }
        return tensors;
    }

    @Override
    public void close() {
        if (owner != null) {
            owner.close();
            owner = null;
        }
        tensors = List.of();
        rows = 0;
        vocab = 0;
    }
}
