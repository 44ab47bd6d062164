package io.spillway.models.runtime;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import ai.djl.util.cuda.CudaUtils;
import java.util.Locale;

/**
 * Where a model runs and in which dtype. The same model code runs on either device; only this
 * choice, made once at load, differs.
 *
 * <p>bfloat16 is the model dtype DJL never holds. DJL 0.36's PyTorch JNI has no bfloat16 mapping
 * (creating or converting a bfloat16 tensor aborts the process), and it aborts on int16 as well
 * (measured); so a bfloat16 model's weights and KV cache are held by DJL in float16-typed tensors
 * that carry bfloat16 bit patterns ({@link #heldAs}), raw 16-bit containers that only the scripts
 * interpret: they alias each one as bfloat16 (sharing storage, so the cache's in-place writes land
 * in the container) and compute in bfloat16. Why float16 and not bytes: TorchScript offers no
 * {@code view(dtype)} (only {@code view_copy}, a copy), and the alias it does allow, {@code set_}
 * on an empty bfloat16 tensor, keeps the container's element count, so the container must be a
 * 16-bit type DJL maps, and float16 is the only one. Java code must never compute on a container
 * (DJL would read the bits as float16).
 *
 * @param device the DJL device (a CUDA GPU or the CPU)
 * @param dtype  the dtype of weights, activations and the KV cache: float32, float16 or bfloat16
 */
public record ComputeTarget(Device device, DataType dtype) {

    /** bfloat16 kernels (tensor cores, cuBLAS's bf16 GEMMs) start at Ampere, compute capability 8.0. */
    static final int BFLOAT16_MIN_COMPUTE_CAPABILITY = 80;

    public ComputeTarget {
        if (dtype != DataType.FLOAT32 && dtype != DataType.FLOAT16 && dtype != DataType.BFLOAT16) {
            throw new IllegalArgumentException("unsupported model dtype " + dtype + " (float32, float16, bfloat16)");
        }
    }

    public boolean isGpu() {
        return device.isGpu();
    }

    /** The DJL dtype of this target's weights and KV cache as DJL holds them ({@link #heldAs(DataType)}). */
    public DataType heldAs() {
        return heldAs(dtype);
    }

    /**
     * What DJL holds tensors of model dtype {@code dtype} as: itself, except bfloat16, held as
     * float16-typed containers of bfloat16 bits (see the class comment).
     */
    public static DataType heldAs(DataType dtype) {
        return dtype == DataType.BFLOAT16 ? DataType.FLOAT16 : dtype;
    }

    /**
     * Picks the device: the first CUDA GPU when DJL's PyTorch engine sees one, else the CPU. The dtype
     * "auto" means bfloat16 on a GPU of compute capability 8.0 or more (float32's range, so the
     * activations of bf16-trained models do not overflow as they can in float16), float16 on older
     * GPUs (no bfloat16 kernels), and float32 on the CPU: it is exact to 1e-4 where 16-bit dtypes
     * are not, every CPU figure of the project was measured in it, and 16-bit speed there depends on
     * the CPU (one noisy run on an AVX-512 BF16 EPYC saw bfloat16's best SmolLM2-135M decode step at
     * 2x float32's at batch 1 and 0.5x at batch 8: not a case for changing the default).
     *
     * @param deviceName "auto", "cpu", "gpu" or "cuda[:N]"
     * @param dtypeName  "auto", "float32", "float16" or "bfloat16"
     */
    public static ComputeTarget resolve(String deviceName, String dtypeName) {
        Device device = resolveDevice(deviceName);
        DataType dtype = switch (dtypeName.toLowerCase(Locale.ROOT)) {
            case "auto" -> autoDtype(device.isGpu(), device.isGpu() ? computeCapability(device) : 0);
            case "float32", "fp32", "f32" -> DataType.FLOAT32;
            case "bfloat16", "bf16" -> DataType.BFLOAT16;
            case "float16", "fp16", "f16", "half" -> DataType.FLOAT16;
            default -> throw new IllegalArgumentException("unknown dtype '" + dtypeName + "' (auto, float32, float16, bfloat16)");
        };
        return new ComputeTarget(device, dtype);
    }

    /**
     * "auto"'s choice: bfloat16 on a GPU of compute capability {@code capability} (major * 10 +
     * minor) of 8.0 or more, float16 on an older GPU, float32 on the CPU.
     */
    static DataType autoDtype(boolean gpu, int capability) {
        if (!gpu) {
            return DataType.FLOAT32;
        }
        return capability >= BFLOAT16_MIN_COMPUTE_CAPABILITY ? DataType.BFLOAT16 : DataType.FLOAT16;
    }

    /** DJL reports "86" for 8.6; an unreadable answer counts as pre-Ampere (float16 works everywhere). */
    private static int computeCapability(Device gpu) {
        try {
            return Integer.parseInt(CudaUtils.getComputeCapability(gpu.getDeviceId()).trim());
        } catch (RuntimeException e) {
            return 0;
        }
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
