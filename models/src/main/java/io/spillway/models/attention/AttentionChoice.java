package io.spillway.models.attention;

import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.kv.PagedKvCache;
import io.spillway.models.runtime.ComputeTarget;
import java.util.Locale;

/** Which {@link AttentionBackend} reads the paged cache; {@link #forTarget} is the default of each device. */
public enum AttentionChoice {
    /** {@link GatherAttention}: per-token slots and host masks, two matmuls; measured fastest on the CPU. */
    GATHER,
    /** {@link BlockTableAttention} with two matmuls. */
    BLOCKS_MATMUL,
    /** {@link BlockTableAttention} with {@code scaled_dot_product_attention}: the GPU path. */
    BLOCKS_SDPA;

    public AttentionBackend create(PagedKvCache cache, ModelConfig config) {
        return switch (this) {
            case GATHER -> new GatherAttention(cache, config);
            case BLOCKS_MATMUL -> new BlockTableAttention(cache, config, BlockTableAttention.Kernel.MATMUL);
            case BLOCKS_SDPA -> new BlockTableAttention(cache, config, BlockTableAttention.Kernel.SDPA);
        };
    }

    /** The name {@link #parse} reads: gather, blocks-matmul, blocks-sdpa. */
    public String configName() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** SDPA on a GPU, where its fused kernels read the context once; the gather path on the CPU. */
    public static AttentionChoice forTarget(ComputeTarget target) {
        return target.isGpu() ? BLOCKS_SDPA : GATHER;
    }

    /** {@code auto} (the target's), {@code gather}, {@code blocks-matmul} or {@code blocks-sdpa}; null for auto. */
    public static AttentionChoice parse(String text) {
        String t = text.strip().toLowerCase(Locale.ROOT);
        return switch (t) {
            case "auto" -> null;
            case "gather" -> GATHER;
            case "blocks-matmul" -> BLOCKS_MATMUL;
            case "blocks-sdpa" -> BLOCKS_SDPA;
            default -> throw new IllegalArgumentException("attention must be auto, gather, blocks-matmul or blocks-sdpa, not '" + text + "'");
        };
    }
}
