package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.TorchRuntime;
import io.spillway.models.runtime.TorchScriptModule;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * grouped_project's two CPU paths, through layer_project as the decoder calls it: libtorch's int4
 * kernel below {@value GroupedWeights#DENSE_ROWS} rows, and from there, for an entry the packer read
 * back, the weight dequantized to bfloat16 ({@code int4_cpu_dequantized_t}) and one matmul. The two
 * round differently, so the same call forced onto the kernel (the entry's readable flag cleared)
 * gives the same product below the threshold and a different one from it (which holds the
 * script's threshold to {@link GroupedWeights#DENSE_ROWS}), and both are the float product of the
 * dequantized weight within bfloat16's rounding.
 *
 * <p>The packer reads back libtorch's AVX-512 layout, which libtorch picks at run time on CPUs with
 * AVX-512 (VL, BW and DQ) unless ATEN_CPU_CAPABILITY says otherwise; anywhere else no entry is
 * readable and every row count must keep the kernel, which is what is asserted there.
 */
class Int4DenseProjectionTest {

    /** Relative to the product's largest magnitude: bfloat16 keeps 8 bits of mantissa in activations, weights and output. */
    private static final double BF16_TOLERANCE = 0.02;

    private static final String PROBE = """

            class Int4ProjectProbe(Module):
              __parameters__ = []
              __buffers__ = []
              training : bool
              def forward(self: __torch__.Int4ProjectProbe, x: Tensor, int4: List[Tuple[Tensor, Tensor, bool]], kernel_only: bool) -> Tensor:
                entries = int4
                if kernel_only:
                  weight, scale_zeros, readable = int4[0]
                  entries = [(weight, scale_zeros, False)]
                return __torch__.layer_project(x, x[0:0], x[0:0], annotate(List[__torch__.torch.classes.quantized.LinearPackedParamsBase], []),
                                               entries, annotate(List[Tensor], []), 0, False)

            class Int4DequantizeProbe(Module):
              __parameters__ = []
              __buffers__ = []
              training : bool
              def forward(self: __torch__.Int4DequantizeProbe, int4: List[Tuple[Tensor, Tensor, bool]], inputs: int) -> Tensor:
                weight, scale_zeros, readable = int4[0]
                return __torch__.int4_cpu_dequantized_t(weight, scale_zeros, inputs).float()

            class Int4ReadableProbe(Module):
              __parameters__ = []
              __buffers__ = []
              training : bool
              def forward(self: __torch__.Int4ReadableProbe, int4: List[Tuple[Tensor, Tensor, bool]]) -> Tensor:
                weight, scale_zeros, readable = int4[0]
                return torch.tensor([readable])
            """;

    /** Whether libtorch runs its AVX-512 kernels here, as ATen decides at run time. */
    static boolean libtorchRunsAvx512() {
        String forced = System.getenv("ATEN_CPU_CAPABILITY");
        if (forced != null && !forced.isBlank() && !forced.equalsIgnoreCase("avx512")) {
            return false;
        }
        try {
            String cpuinfo = Files.readString(Path.of("/proc/cpuinfo"));
            for (String flag : new String[] {"avx512vl", "avx512bw", "avx512dq", "fma"}) {
                if (!Int8Quantizer.hasFlag(cpuinfo, flag)) {
                    return false;
                }
            }
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static NDManager scripts;
    private static TorchScriptModule projectProbe;
    private static TorchScriptModule dequantizeProbe;
    private static TorchScriptModule readableProbe;

    @BeforeAll
    static void compile() {
        TorchRuntime.engine();
        scripts = NDManager.newBaseManager(Device.cpu());
        projectProbe = TorchScriptModule.compile(scripts, "Int4ProjectProbe", DecoderScript.source() + PROBE);
        dequantizeProbe = TorchScriptModule.compile(scripts, "Int4DequantizeProbe", DecoderScript.source() + PROBE);
        readableProbe = TorchScriptModule.compile(scripts, "Int4ReadableProbe", DecoderScript.source() + PROBE);
    }

    @AfterAll
    static void close() {
        for (TorchScriptModule module : new TorchScriptModule[] {projectProbe, dequantizeProbe, readableProbe}) {
            if (module != null) {
                module.close();
            }
        }
        if (scripts != null) {
            scripts.close();
        }
    }

    @ParameterizedTest(name = "{0} rows")
    @ValueSource(ints = {1, 16, GroupedWeights.DENSE_ROWS - 1, GroupedWeights.DENSE_ROWS, 300})
    void fromTheThresholdAReadableEntryMultipliesDenselyAndBelowItTheKernelDoes(int rows) {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Int4Matrix matrix = randomMatrix(m, 192, 256, 64);
            try (GroupedWeights weights = pack(m, matrix)) {
                boolean readable = readable(weights, m);
                assertEquals(libtorchRunsAvx512(), readable, "the packer's read-back on this CPU");
                NDArray x = m.randomNormal(new Shape(rows, 256));
                NDArray expected = x.matMul(matrix.dequantize().transpose());
                NDArray asCalled = project(x, weights, false);
                NDArray onKernel = project(x, weights, true);
                double scale = expected.abs().max().getFloat();
                assertTrue(maxDiff(asCalled, expected) < BF16_TOLERANCE * scale, rows + " rows: " + maxDiff(asCalled, expected) + " of " + scale);
                assertTrue(maxDiff(onKernel, expected) < BF16_TOLERANCE * scale, rows + " rows on the kernel: " + maxDiff(onKernel, expected));
                if (readable && rows >= GroupedWeights.DENSE_ROWS) {
                    assertTrue(maxDiff(asCalled, onKernel) > 0, rows + " rows: the same product as the kernel's, so not the dense path");
                } else {
                    assertEquals(0.0, maxDiff(asCalled, onKernel), rows + " rows: not the kernel's product");
                }
            }
        }
    }

    /** The dense path's weight is the checkpoint's, w = (q - zero) * scale, to bfloat16's rounding, in every column of every block. */
    @ParameterizedTest(name = "groups of {0}")
    @ValueSource(ints = {32, 64, 128})
    void theDequantizedTransposeIsTheWeight(int group) {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Int4Matrix matrix = randomMatrix(m, 320, 256, group);
            try (GroupedWeights weights = pack(m, matrix)) {
                boolean readable = readable(weights, m);
                assertEquals(libtorchRunsAvx512(), readable, "the packer's read-back on this CPU");
                Assumptions.assumeTrue(readable, "libtorch packs in another layout on this CPU, which the script does not read");
                NDArray expected = matrix.dequantize().transpose();
                NDArray actual;
                try (IValue in = IValue.from(256L); IValue out = dequantizeProbe.forward(weights.value(), in)) {
                    actual = out.toTensor((PtNDManager) m);
                }
                assertEquals(expected.getShape(), actual.getShape());
                // Each weight is rounded to bfloat16 once (8 bits), with its offset rounded once too.
                NDArray tolerance = expected.abs().mul(1.0 / 128).add(matrix.scales().abs().max().getFloat() / 32);
                NDArray excess = actual.sub(expected).abs().sub(tolerance);
                assertTrue(excess.max().getFloat() <= 0, "dequantized weight off by more than bfloat16's rounding: " + excess.max().getFloat());
            }
        }
    }

    private static Int4Matrix randomMatrix(NDManager m, int out, int in, int group) {
        NDArray values = m.randomInteger(0, 16, new Shape(out, in), DataType.INT32);
        NDArray scales = m.randomUniform(0.01f, 0.05f, new Shape(in / group, out));
        NDArray zeros = m.randomInteger(5, 11, new Shape(in / group, out), DataType.INT32).toType(DataType.FLOAT32, false);
        return new Int4Matrix(values, scales, zeros, group);
    }

    private static GroupedWeights pack(NDManager m, Int4Matrix matrix) {
        try (GroupedWeights.Packer packer = new GroupedWeights.Packer(m, ComputeTarget.cpuFloat32(), QuantizedKernels.LIBTORCH)) {
            packer.add(matrix);
            return packer.finish();
        }
    }

    private static boolean readable(GroupedWeights weights, NDManager m) {
        try (IValue out = readableProbe.forward(weights.value())) {
            return out.toTensor((PtNDManager) m).toBooleanArray()[0];
        }
    }

    private static NDArray project(NDArray x, GroupedWeights weights, boolean kernelOnly) {
        try (IValue xs = IValue.from((PtNDArray) x);
             IValue flag = IValue.from(kernelOnly);
             IValue out = projectProbe.forward(xs, weights.value(), flag)) {
            return out.toTensor((PtNDManager) x.getManager());
        }
    }

    private static double maxDiff(NDArray a, NDArray b) {
        return a.sub(b).abs().max().getFloat();
    }
}
