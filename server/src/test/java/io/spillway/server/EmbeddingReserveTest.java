package io.spillway.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.spillway.models.runtime.ComputeTarget;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The engine keeps the embedding model's arena cap out of its KV cache only when they share a GPU. */
class EmbeddingReserveTest {

    private static final long CAP = 512L << 20;

    @Test
    void onlyAnEmbeddingModelOnTheEnginesGpuIsReservedFor() {
        ComputeTarget gpu1 = new ComputeTarget(Device.gpu(1), DataType.FLOAT16);
        assertEquals(CAP, SpillwayServer.reservedForEmbeddings(gpu1, Optional.of("cuda:1"), CAP));
        assertEquals(0, SpillwayServer.reservedForEmbeddings(gpu1, Optional.of("cuda:0"), CAP), "another GPU");
        assertEquals(0, SpillwayServer.reservedForEmbeddings(gpu1, Optional.of("cpu"), CAP), "the CPU");
        assertEquals(0, SpillwayServer.reservedForEmbeddings(gpu1, Optional.empty(), CAP), "no embedding model");
        assertEquals(0, SpillwayServer.reservedForEmbeddings(ComputeTarget.cpuFloat32(), Optional.of("cuda:0"), CAP), "a CPU engine");
    }
}
