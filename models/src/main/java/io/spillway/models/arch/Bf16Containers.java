package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.IValue;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.TorchScriptModule;

/**
 * A bfloat16 model's two load-time steps through the decoder script, since DJL cannot hold a
 * bfloat16 tensor ({@link ComputeTarget}): rounding float weights into bfloat16 containers, and
 * aliasing the containers of the finished constants as bfloat16 on the native side, once, so that
 * no step pays for it. Holds both compiled scripts until {@link #close}.
 */
public final class Bf16Containers implements AutoCloseable {

    /** {@code Bf16Rounder.forward}: a float tensor of any float dtype. */
    public record Bf16RoundCall(NDArray x) {
    }

    /** {@code Bf16Aliaser.forward}: the constants the decoder takes, weights as containers. */
    public record Bf16AliasCall(DecoderConstants model) {
    }

    private final TorchScriptModule rounder;
    private final TorchScriptModule aliaser;

    Bf16Containers(NDManager manager) {
        this.rounder = DecoderScript.compile(manager, DecoderScript.Root.BF16_ROUNDER);
        try {
            this.aliaser = DecoderScript.compile(manager, DecoderScript.Root.BF16_ALIASER);
        } catch (RuntimeException e) {
            rounder.close();
            throw e;
        }
    }

    /**
     * {@code floats} rounded to bfloat16 (to nearest, ties to even, NaN kept), as a float16-typed
     * container of the bits on the same device, attached to {@code owner}.
     */
    NDArray round(NDArray floats, NDManager owner) {
        if (!floats.getDataType().isFloating()) {
            throw new IllegalArgumentException("only a float tensor rounds to bfloat16, not " + floats.getDataType());
        }
        return rounder.forward(new Bf16RoundCall(floats), owner);
    }

    /**
     * The decoder's constants argument with every container aliased as bfloat16; the caller owns the
     * value (the containers, which keep the storage, must outlive it).
     *
     * @param constants the constants as {@link io.spillway.models.runtime.ScriptArguments} made them
     */
    IValue alias(IValue constants) {
        return aliaser.forward(constants);
    }

    @Override
    public void close() {
        rounder.close();
        aliaser.close();
    }
}
