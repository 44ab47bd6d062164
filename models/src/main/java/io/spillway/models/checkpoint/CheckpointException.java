package io.spillway.models.checkpoint;

/**
 * A checkpoint that cannot be loaded as asked: a missing file, an unsupported architecture, a tensor
 * of the wrong shape or dtype, a truncated file. The message always names the file or tensor.
 */
public final class CheckpointException extends RuntimeException {
    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
