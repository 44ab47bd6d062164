package io.spillway.models.arch;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.BeforeAll;

/**
 * {@link Int4CheckpointTest}'s checkpoints and tolerances, loaded in Spillway's layout for its native
 * {@code spillway::int4_linear}: the logits of every variant, a long prefill, a projection stored as
 * float beside int4 ones, an int8 LM head and random weights must be the dequantized float model's
 * within {@value #TOLERANCE}. Its activations are quantized to a 64,516th of each 32 inputs'
 * largest magnitude (an int8 and an int8 of its residual), finer than the bfloat16 libtorch's kernel
 * takes: measured 0.0014-0.0034 here against libtorch's 0.06-0.10 on the same checkpoints. With a
 * single int8 (no residual) it measured 0.29-0.86, which fails. Runs where the operator does;
 * {@link NativeInt4LinearTest} asserts that it does on every CPU with AVX-512 VNNI.
 */
class NativeInt4CheckpointTest extends Int4CheckpointTest {

    private static final double TOLERANCE = 0.02;

    @BeforeAll
    static void onlyWhereTheOperatorRuns() {
        assumeTrue(NativeInt4LinearTest.operatorRuns(), "spillway::int4_linear does not run on this CPU");
    }

    @Override
    QuantizedKernels layout() {
        return QuantizedKernels.SPILLWAY;
    }

    @Override
    String cpuKernel() {
        return "spillway int4_linear (activations int8 and residual int8 per 32 inputs, AVX-512 VNNI)";
    }

    /** Spillway's layout takes any output count that is a multiple of 16, and is never dequantized for a dense matmul. */
    @Override
    String kernelWithUnreadableProjections() {
        return cpuKernel();
    }

    @Override
    double tolerance() {
        return TOLERANCE;
    }

    @Override
    String kernelOperator() {
        return "spillway::int4_linear";
    }

    /** float32 scales and offsets. */
    @Override
    int scaleBytes() {
        return 4;
    }
}
