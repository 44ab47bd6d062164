package io.spillway.server.embeddings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The CUDA provider options that cap ONNX Runtime's arena, by the names its CUDA provider reads
 * (there is no GPU here to load the provider with them).
 */
class CudaArenaOptionsTest {

    @Test
    void theArenaIsCappedAndGrowsByWhatIsAsked() {
        assertEquals(Map.of("gpu_mem_limit", "536870912", "arena_extend_strategy", "kSameAsRequested"),
                EmbeddingModel.cudaArenaOptions(EmbeddingModel.DEFAULT_GPU_MEMORY_BYTES));
        assertEquals("1", EmbeddingModel.cudaArenaOptions(1).get("gpu_mem_limit"));
        assertThrows(IllegalArgumentException.class, () -> EmbeddingModel.cudaArenaOptions(0));
    }
}
