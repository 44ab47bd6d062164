package io.spillway.models.attention;

import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.kv.PagedKvCache;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.NativeOperators;
import java.util.Locale;

/** Which {@link AttentionBackend} reads the paged cache; {@link #forTarget} is the default of each device. */
public enum AttentionChoice {
    /** {@link GatherAttention}: per-token slots and host masks, two matmuls. */
    GATHER,
    /**
     * {@link GatherAttention} with its decodes (one query a sequence) attended by Spillway's native
     * operator instead ({@link NativeOperators}): float32 on the CPU only; measured fastest there.
     */
    GATHER_NATIVE,
    /** {@link BlockTableAttention} with two matmuls. */
    BLOCKS_MATMUL,
    /** {@link BlockTableAttention} with {@code scaled_dot_product_attention}: the GPU path. */
    BLOCKS_SDPA;

    public AttentionBackend create(PagedKvCache cache, ModelConfig config) {
        return switch (this) {
            case GATHER -> new GatherAttention(cache, config);
            case GATHER_NATIVE -> GatherAttention.withNativeDecodes(cache, config);
            case BLOCKS_MATMUL -> new BlockTableAttention(cache, config, BlockTableAttention.Kernel.MATMUL);
            case BLOCKS_SDPA -> new BlockTableAttention(cache, config, BlockTableAttention.Kernel.SDPA);
        };
    }

    /** The name {@link #parse} reads: gather, gather-native, blocks-matmul, blocks-sdpa. */
    public String configName() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /**
     * SDPA on a GPU, where its fused kernels read the context once; on the CPU the gather path, its
     * decodes native where the native operators are registered and the model is float32.
     */
    public static AttentionChoice forTarget(ComputeTarget target) {
        if (target.isGpu()) {
            return BLOCKS_SDPA;
        }
        return NativeOperators.serve(target) ? GATHER_NATIVE : GATHER;
    }

    /** {@code auto} (the target's), {@code gather}, {@code gather-native}, {@code blocks-matmul} or {@code blocks-sdpa}; null for auto. */
    public static AttentionChoice parse(String text) {
        String t = text.strip().toLowerCase(Locale.ROOT);
        return switch (t) {
            case "auto" -> null;
            case "gather" -> GATHER;
            case "gather-native" -> GATHER_NATIVE;
            case "blocks-matmul" -> BLOCKS_MATMUL;
            case "blocks-sdpa" -> BLOCKS_SDPA;
            default -> throw new IllegalArgumentException("attention must be auto, gather, gather-native, blocks-matmul or blocks-sdpa, not '" + text + "'");
        };
    }
}
