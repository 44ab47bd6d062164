package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.spillway.models.attention.StepAttention;
import io.spillway.models.runtime.NativeOperators;
import io.spillway.models.runtime.ScriptDeclarations;
import io.spillway.models.runtime.ScriptTypes;
import io.spillway.models.runtime.TorchScriptModule;

/**
 * {@code decoder.torchscript} and its contract with Java. Each root class's {@code forward} takes
 * one Java record's components (structured ones as tuples of a record's components), and the named
 * values it compares with are Java enums; {@link #requireAgreement} checks both against the text
 * before libtorch compiles it, so the two sides cannot drift apart silently: the load fails with the
 * parameter or constant that differs.
 */
public final class DecoderScript {

    static final String RESOURCE = "decoder.torchscript";
    /** Appended where {@link NativeOperators} are registered; the other stands in elsewhere. */
    static final String WITH_NATIVE_OPERATORS = "native-operators.torchscript";
    static final String WITHOUT_NATIVE_OPERATORS = "without-native-operators.torchscript";

    /** The script's root classes: the decoder, and its kernels alone for benchmarks. */
    public enum Root {
        /** The whole forward pass: {@link DecoderCall}, then {@link DecoderConstants}. */
        DECODER("Decoder"),
        /** {@code project} alone: {@link ProjectCall}. */
        PROJECTOR("Projector"),
        /** {@code attend} over every layer: {@link AttentionCall}. */
        ATTENTION("Attention"),
        /** Packs int8 projections at load: {@link Int8Weights.Int8PackCall}. */
        INT8_PACKER("Int8Packer"),
        /** The int8 branch of {@code layer_project} alone: {@link Int8ProjectCall}. */
        INT8_PROJECTOR("Int8Projector"),
        /** Unpacks an AWQ or GPTQ projection at load: {@link Int4UnpackCall}. */
        INT4_UNPACKER("Int4Unpacker"),
        /** Packs int4 projections for an int4 kernel at load: {@link GroupedWeights.Int4PackCall}. */
        INT4_PACKER("Int4Packer"),
        /** Packs int8 projections for Spillway's int8 kernel at load: {@link GroupedWeights.Int8GroupPackCall}. */
        INT8_GROUP_PACKER("Int8GroupPacker"),
        /** Packs float32 projections for oneDNN at load: {@link OneDnnWeights.OneDnnPackCall}. */
        ONEDNN_PACKER("OneDnnPacker"),
        /** Aliases a bfloat16 model's weight containers as bfloat16 at load: {@link Bf16Containers.Bf16AliasCall}. */
        BF16_ALIASER("Bf16Aliaser"),
        /** Rounds a float tensor into a bfloat16 container at load: {@link Bf16Containers.Bf16RoundCall}. */
        BF16_ROUNDER("Bf16Rounder");

        final String className;

        Root(String className) {
            this.className = className;
        }
    }

    /** {@code Projector.forward}: y = x W^T + b, W in a {@link Projection} layout, b empty when absent. */
    public record ProjectCall(NDArray x, NDArray weight, NDArray bias) {
    }

    /** {@code Int8Projector.forward}: y = x W^T + b with W and b the packed entry {@code index}. */
    public record Int8ProjectCall(NDArray x, Int8Weights packed, int index) {
    }

    /**
     * {@code Int4Unpacker.forward}: an AWQ or GPTQ projection's packed int32 tensors, the bit offset of
     * each of a word's eight channels, and which channels qweight's words pack.
     */
    public record Int4UnpackCall(NDArray qweight, NDArray qzeros, NDArray weightShifts, NDArray zeroShifts, PackedChannels packedChannels) {
    }

    /** {@code Attention.forward}: q {@code [tokens, heads, headDim]}, stepKv {@code [tokens, 2 * kvHeads * headDim]}. */
    public record AttentionCall(NDArray q, NDArray stepKv, StepAttention attention, int heads, int kvHeads, int headDim) {
    }

    private DecoderScript() {
    }

    /** The shipped script's text, calling Spillway's native operators where this process has them registered. */
    static String source() {
        return source(NativeOperators.registered());
    }

    /** The shipped script's text, with or without Spillway's native operators (which must then be registered). */
    static String source(boolean nativeOperators) {
        return TorchScriptModule.resource(DecoderScript.class, RESOURCE)
                + TorchScriptModule.resource(DecoderScript.class, nativeOperators ? WITH_NATIVE_OPERATORS : WITHOUT_NATIVE_OPERATORS);
    }

    /** Checks {@code source} against the Java side and compiles it with {@code root} as its module. */
    static TorchScriptModule compile(NDManager manager, Root root, String source) {
        requireAgreement(source);
        return TorchScriptModule.compile(manager, root.className, source);
    }

    /** The shipped script, checked and compiled with {@code root} as its module. */
    public static TorchScriptModule compile(NDManager manager, Root root) {
        return compile(manager, root, source());
    }

    /**
     * Fails, naming what differs, unless every root class's {@code forward} takes exactly what
     * Java passes and every Enum the script compares with has Java's names and values.
     */
    static void requireAgreement(String source) {
        ScriptDeclarations script = new ScriptDeclarations(RESOURCE, source);
        script.requireForward(Root.DECODER.className, DecoderCall.parameters(), "Java's DecoderCall and DecoderConstants");
        script.requireForward(Root.PROJECTOR.className, ScriptTypes.parameters(ProjectCall.class), "Java's ProjectCall");
        script.requireForward(Root.ATTENTION.className, ScriptTypes.parameters(AttentionCall.class), "Java's AttentionCall");
        script.requireForward(Root.INT8_PROJECTOR.className, ScriptTypes.parameters(Int8ProjectCall.class), "Java's Int8ProjectCall");
        script.requireForward(Root.INT8_PACKER.className, ScriptTypes.parameters(Int8Weights.Int8PackCall.class), "Java's Int8PackCall");
        script.requireForward(Root.INT4_UNPACKER.className, ScriptTypes.parameters(Int4UnpackCall.class), "Java's Int4UnpackCall");
        script.requireForward(Root.INT4_PACKER.className, ScriptTypes.parameters(GroupedWeights.Int4PackCall.class), "Java's Int4PackCall");
        script.requireForward(Root.INT8_GROUP_PACKER.className, ScriptTypes.parameters(GroupedWeights.Int8GroupPackCall.class),
                "Java's Int8GroupPackCall");
        script.requireForward(Root.ONEDNN_PACKER.className, ScriptTypes.parameters(OneDnnWeights.OneDnnPackCall.class),
                "Java's OneDnnPackCall");
        script.requireForward(Root.BF16_ALIASER.className, ScriptTypes.parameters(Bf16Containers.Bf16AliasCall.class),
                "Java's Bf16AliasCall");
        script.requireForward(Root.BF16_ROUNDER.className, ScriptTypes.parameters(Bf16Containers.Bf16RoundCall.class),
                "Java's Bf16RoundCall");
        script.requireEnum(LogitRows.class);
        script.requireEnum(PackedChannels.class);
        script.requireEnum(QuantizedKernels.class);
    }
}
