package io.spillway.server.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import ai.djl.engine.EngineException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** libtorch's messages, as DJL's JNI throws them, sorted into what the engine does about them. */
class StepFailureTest {

    @ParameterizedTest
    @ValueSource(strings = {
            "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.15 GiB of which 1.19 GiB is free.",
            "CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported at some other API call",
            "[enforce fail at alloc_cpu.cpp:117] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to allocate"
                    + " 68719476736 bytes. Error code 12 (Cannot allocate memory)",
            "[enforce fail at C:\\actions-runner\\_work\\pytorch\\c10\\core\\impl\\alloc_cpu.cpp:72] data. DefaultCPUAllocator:"
                    + " not enough memory: you tried to allocate 1073741824 bytes.",
            "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
            "cuDNN error: CUDNN_STATUS_ALLOC_FAILED",
            "MPS backend out of memory (MPS allocated: 17.00 GB, other allocations: 1.2 GB, max allowed: 18.13 GB)."})
    void outOfMemoryMessagesAreOutOfMemory(String message) {
        StepFailure failure = StepFailure.of(new EngineException(message));
        assertInstanceOf(StepFailure.OutOfMemory.class, failure, message);
        assertEquals(message, failure.message());
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "CUDA error: an illegal memory access was encountered\nCompile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.",
            "CUDA error: device-side assert triggered",
            "CUDA error: unspecified launch failure",
            "CUDA error: an illegal instruction was encountered",
            "CUDA error: uncorrectable ECC error encountered",
            "CUDA error: misaligned address",
            "CUDA error: the launch timed out and was terminated",
            "CUDA error: hardware stack error"})
    void errorsThatLeaveTheDeviceUnusableAreDeviceLost(String message) {
        assertInstanceOf(StepFailure.DeviceLost.class, StepFailure.of(new EngineException(message)), message);
    }

    @Test
    void aLostDeviceWinsOverTheOutOfMemoryItMayAlsoMention() {
        // After an illegal access every later allocation fails too; the device is what matters.
        assertInstanceOf(StepFailure.DeviceLost.class, StepFailure.of(new EngineException(
                "CUDA error: an illegal memory access was encountered (while handling CUDA out of memory)")));
    }

    @Test
    void theCauseChainIsRead() {
        RuntimeException wrapped = new IllegalStateException("step 12 failed", new EngineException("CUDA out of memory. Tried to allocate 8.00 MiB"));
        assertInstanceOf(StepFailure.OutOfMemory.class, StepFailure.of(wrapped));
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "The size of tensor a (4) must match the size of tensor b (5) at non-singleton dimension 1",
            "index 70000 is out of bounds for dimension 0 with size 512",
            "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!"})
    void otherErrorsAreOther(String message) {
        assertInstanceOf(StepFailure.Other.class, StepFailure.of(new EngineException(message)), message);
    }

    @Test
    void aJavaHeapOutOfMemoryIsNotTheDevices() {
        // Splitting the batch does not help the heap, and the device is fine.
        assertInstanceOf(StepFailure.Other.class, StepFailure.of(new OutOfMemoryError("Java heap space")));
    }

    @Test
    void aFailureWithoutAMessageIsOther() {
        assertInstanceOf(StepFailure.Other.class, StepFailure.of(new NullPointerException()));
    }
}
