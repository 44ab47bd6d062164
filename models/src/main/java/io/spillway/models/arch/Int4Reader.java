package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;
import io.spillway.models.checkpoint.CheckpointException;
import io.spillway.models.checkpoint.Int4Packing;
import io.spillway.models.checkpoint.QuantizationConfig;
import io.spillway.models.checkpoint.TensorSource;
import io.spillway.models.runtime.ScriptArguments;
import io.spillway.models.runtime.TorchScriptModule;

/**
 * Reads one projection of an AWQ or GPTQ checkpoint ({@code <prefix>.qweight}, {@code .qzeros},
 * {@code .scales}, and GPTQ's {@code .g_idx}) into an {@link Int4Matrix}, on the CPU, checking
 * every shape against the config's and refusing act-order groups. The bit twiddling runs in the
 * script's {@code Int4Unpacker}, one libtorch call per projection rather than a Java loop per value.
 * Holds the compiled unpacker until {@link #close}.
 */
final class Int4Reader implements AutoCloseable {

    /**
     * Bit offsets of output channels 0..7 in an AWQ word: AutoAWQ packs channel {@code [0, 2, 4, 6, 1, 3, 5, 7][i]}
     * at nibble {@code i}, so channel {@code j} sits at the nibble where that order names it.
     */
    private static final int[] AWQ_SHIFTS = {0, 16, 4, 20, 8, 24, 12, 28};
    /** GPTQ packs in order: channel {@code j} at nibble {@code j}. */
    private static final int[] SEQUENTIAL_SHIFTS = {0, 4, 8, 12, 16, 20, 24, 28};

    private final TensorSource source;
    private final QuantizationConfig.Int4 config;
    private final TorchScriptModule script;

    Int4Reader(TensorSource source, QuantizationConfig.Int4 config, NDManager manager) {
        this.source = source;
        this.config = config;
        this.script = DecoderScript.compile(manager, DecoderScript.Root.INT4_UNPACKER);
    }

    /** Whether the checkpoint stores {@code prefix} (e.g. {@code model.layers.0.self_attn.q_proj}) as int4. */
    boolean isInt4(String prefix) {
        return source.contains(prefix + ".qweight");
    }

    /** The projection {@code prefix}, {@code outputs x inputs}, unpacked into {@code scratch}. */
    Int4Matrix read(String prefix, long outputs, long inputs, NDManager scratch) {
        int group = config.groupSize(inputs);
        Int4Packing packing = config.packing();
        if (inputs % group != 0) {
            throw new CheckpointException(prefix + ": group size " + group + " does not divide its " + inputs + " input channels");
        }
        if (outputs % 8 != 0 || (packing.packsInputChannels() && inputs % 8 != 0)) {
            throw new CheckpointException(prefix + ": " + outputs + " x " + inputs + " cannot be packed eight values to a word");
        }
        long groups = inputs / group;
        long[] qweightShape = packing.packsInputChannels() ? new long[] {inputs / 8, outputs} : new long[] {inputs, outputs / 8};
        NDArray qweight = packed(prefix + ".qweight", qweightShape, scratch);
        NDArray qzeros = packed(prefix + ".qzeros", new long[] {groups, outputs / 8}, scratch);
        NDArray scales = source.read(prefix + ".scales", new long[] {groups, outputs}, scratch);
        if (!scales.getDataType().isFloating()) {
            throw new CheckpointException(prefix + ".scales is " + scales.getDataType() + ", not a float tensor");
        }
        if (source.contains(prefix + ".g_idx")) {
            requireInputOrder(prefix + ".g_idx", packed(prefix + ".g_idx", new long[] {inputs}, scratch), group);
        }
        int[] weightShifts = packing == Int4Packing.AWQ ? AWQ_SHIFTS : SEQUENTIAL_SHIFTS;
        DecoderScript.Int4UnpackCall call = new DecoderScript.Int4UnpackCall(qweight, qzeros, scratch.create(weightShifts), scratch.create(weightShifts),
                packing.packsInputChannels() ? PackedChannels.INPUT : PackedChannels.OUTPUT);
        NDArray values;
        NDArray storedZeros;
        try (ScriptArguments arguments = new ScriptArguments();
             IValue out = script.forward(arguments.components(call).toArray(IValue[]::new))) {
            IValue[] pair = out.toIValueTuple();
            try {
                values = pair[0].toTensor((PtNDManager) scratch);
                storedZeros = pair[1].toTensor((PtNDManager) scratch);
            } finally {
                for (IValue v : pair) {
                    v.close();
                }
            }
        }
        NDArray zeros = storedZeros.toType(DataType.FLOAT32, false).add(packing.zeroOffset());
        return new Int4Matrix(values, scales.toType(DataType.FLOAT32, false), zeros, group);
    }

    private NDArray packed(String name, long[] shape, NDManager scratch) {
        NDArray a = source.read(name, shape, scratch);
        if (a.getDataType() != DataType.INT32) {
            throw new CheckpointException(name + " is " + a.getDataType() + ": a " + config.describe() + " checkpoint stores it as I32");
        }
        return a;
    }

    /**
     * With desc_act false every input channel's group is its index divided by the group size;
     * anything else is act-order, whose groups follow a permutation this loader does not apply.
     */
    private static void requireInputOrder(String name, NDArray gIdx, int group) {
        int[] groups = gIdx.toIntArray();
        for (int i = 0; i < groups.length; i++) {
            if (groups[i] != i / group) {
                throw new CheckpointException(name + " maps input channel " + i + " to group " + groups[i] + ", not " + i / group
                        + ": act-order (desc_act) groups are not supported");
            }
        }
    }

    @Override
    public void close() {
        script.close();
    }
}
