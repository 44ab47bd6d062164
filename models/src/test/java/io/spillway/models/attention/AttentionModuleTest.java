package io.spillway.models.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.arch.DecoderScript;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.checkpoint.ConfigJson;
import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.kv.PagedKvCache;
import io.spillway.models.runtime.HostStaging;
import io.spillway.models.runtime.TorchRuntime;
import io.spillway.models.runtime.TorchScriptModule;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The decoder script's {@code Attention} root, which AttentionBenchmark times, attends as the
 * decoder does: the gather and block-table plans give the same output over one cache. Six query
 * heads on two KV heads, so that a group (3) that stood in for the KV head count (2), or the
 * reverse, would gather the wrong rows.
 */
class AttentionModuleTest {

    private static final int HEADS = 6;
    private static final int KV_HEADS = 2;
    private static final int HEAD_DIM = 16;
    private static final int BLOCK = 16;

    @Test
    void theGatherAndBlockPlansAttendAlikeWhereTheGroupIsNotTheKvHeadCount() {
        TorchRuntime.engine();
        ModelConfig config = ModelConfig.parse(ConfigJson.llama(HEADS * HEAD_DIM, 4 * HEADS * HEAD_DIM, 1, HEADS, KV_HEADS, 100, 512, true));
        try (NDManager m = NDManager.newBaseManager(); TorchScriptModule script = DecoderScript.compile(m, DecoderScript.Root.ATTENTION)) {
            PagedKvCache cache = PagedKvCache.allocate(KvCacheSpec.ofBlocks(config, BLOCK, DataType.FLOAT32, 12), m.getDevice(), m);
            NDArray layer = cache.layer(0);
            layer.set(new NDIndex(":"), m.randomNormal(layer.getShape()));
            layer.set(new NDIndex("0:" + BLOCK), 0f);
            // Ragged contexts over non-adjacent blocks (block 0 is the null block).
            ForwardBatch decodes = ForwardBatch.of(List.of(SequenceChunk.decode(1, 5, new int[] {3}), SequenceChunk.decode(2, 20, new int[] {7, 1}),
                    SequenceChunk.decode(3, 33, new int[] {9, 4, 11})), BLOCK);
            NDArray q = m.randomNormal(new Shape(3, HEADS, HEAD_DIM));
            NDArray stepKv = m.randomNormal(new Shape(3, 2 * KV_HEADS * HEAD_DIM));
            HostStaging staging = new HostStaging(m.getDevice(), 1 << 16);
            float[] gathered = attend(script, AttentionChoice.GATHER.create(cache, config), decodes, q, stepKv, staging, m);
            float[] blocks = attend(script, AttentionChoice.BLOCKS_MATMUL.create(cache, config), decodes, q, stepKv, staging, m);
            assertArrayEquals(blocks, gathered, 1e-5f);
        }
    }

    private static float[] attend(TorchScriptModule script, AttentionBackend backend, ForwardBatch batch, NDArray q, NDArray stepKv,
                                  HostStaging staging, NDManager m) {
        try (NDManager step = m.newSubManager()) {
            staging.reset();
            StepAttention plan = backend.begin(batch, step, staging);
            return script.forward(new DecoderScript.AttentionCall(q, stepKv, plan, HEADS, KV_HEADS, HEAD_DIM), step).toFloatArray();
        }
    }
}
