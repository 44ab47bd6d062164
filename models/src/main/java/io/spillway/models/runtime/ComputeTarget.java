package io.spillway.models.runtime;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import java.util.Locale;

/**
 * Where a model runs and in which dtype. The same model code runs on either device; only this
 * choice, made once at load, differs.
 *
 * @param device the DJL device (a CUDA GPU or the CPU)
 * @param dtype  the dtype of weights, activations and the KV cache
 */
public record ComputeTarget(Device device, DataType dtype) {

    /**
     * Why bfloat16 is refused: DJL 0.36's PyTorch JNI maps only float32, float64, float16 and the
     * integer types; any bfloat16 tensor creation or conversion aborts the JVM. Refusing here turns
     * that crash into a clear configuration error.
     */
    static final String NO_BFLOAT16 = "bfloat16 is not available: DJL 0.36's PyTorch JNI cannot create or convert"
            + " bfloat16 tensors (it aborts the process); use float16 on a GPU or float32 on the CPU."
            + " bfloat16 checkpoints load fine: they are widened exactly on the way in.";

    public ComputeTarget {
        if (dtype == DataType.BFLOAT16) {
            throw new IllegalArgumentException(NO_BFLOAT16);
        }
        if (dtype != DataType.FLOAT32 && dtype != DataType.FLOAT16) {
            throw new IllegalArgumentException("unsupported model dtype " + dtype + " (float32, float16)");
        }
    }

    public boolean isGpu() {
        return device.isGpu();
    }

    /**
     * Picks the device: the first CUDA GPU when DJL's PyTorch engine sees one, else the CPU. The dtype
     * "auto" means float16 on a GPU (bfloat16 would be the usual choice, see {@link #NO_BFLOAT16}) and
     * float32 on the CPU, where libtorch's half-precision matmuls are slower than float32.
     *
     * @param deviceName "auto", "cpu", "gpu" or "cuda[:N]"
     * @param dtypeName  "auto", "float32" or "float16"
     */
    public static ComputeTarget resolve(String deviceName, String dtypeName) {
        Device device = resolveDevice(deviceName);
        DataType dtype = switch (dtypeName.toLowerCase(Locale.ROOT)) {
            case "auto" -> device.isGpu() ? DataType.FLOAT16 : DataType.FLOAT32;
            case "float32", "fp32", "f32" -> DataType.FLOAT32;
            case "bfloat16", "bf16" -> throw new IllegalArgumentException(NO_BFLOAT16);
            case "float16", "fp16", "f16", "half" -> DataType.FLOAT16;
            default -> throw new IllegalArgumentException("unknown dtype '" + dtypeName + "' (auto, float32, float16)");
        };
        return new ComputeTarget(device, dtype);
    }

    public static ComputeTarget cpuFloat32() {
        return new ComputeTarget(Device.cpu(), DataType.FLOAT32);
    }

    private static Device resolveDevice(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        int gpus = TorchRuntime.engine().getGpuCount();
        if (n.equals("auto")) {
            return gpus > 0 ? Device.gpu(0) : Device.cpu();
        }
        if (n.equals("cpu")) {
            return Device.cpu();
        }
        if (n.equals("gpu") || n.equals("cuda") || n.startsWith("cuda:") || n.startsWith("gpu:")) {
            int index = n.contains(":") ? Integer.parseInt(n.substring(n.indexOf(':') + 1)) : 0;
            if (index >= gpus) {
                throw new IllegalArgumentException("device " + name + " requested but DJL's PyTorch engine sees "
                        + gpus + " GPU(s)" + (gpus == 0 ? " (is the CUDA build of libtorch installed?)" : ""));
            }
            return Device.gpu(index);
        }
        throw new IllegalArgumentException("unknown device '" + name + "' (auto, cpu, cuda, cuda:N)");
    }

    @Override
    public String toString() {
        return device + "/" + dtype.toString().toLowerCase(Locale.ROOT);
    }
}
