package io.spillway.models.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * Where a model's weights come from: a checkpoint on disk, or random values for a config.
 *
 * <p>Ownership: {@link #read} returns an array attached to the caller's scratch manager that may
 * alias read-only mapped file memory. Callers convert it into an owned tensor (see
 * {@code WeightLoader}) and close the scratch manager; they must never write to it or keep it.
 */
public interface TensorSource extends AutoCloseable {

    /** Whether the source holds a tensor of this name. */
    boolean contains(String name);

    /**
     * The tensor, on CPU in its stored dtype (bfloat16 widened to float32, see {@link TensorDType}),
     * checked against the shape the config implies.
     *
     * @throws CheckpointException naming the tensor and file when it is missing, has another shape,
     *                             or a dtype that cannot be loaded
     */
    NDArray read(String name, long[] expectedShape, NDManager scratch);

    /** A short description for logs ("3 safetensors shards in /models/x", "random weights"). */
    String describe();

    @Override
    void close();
}
