package io.spillway.models.runtime;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Moves the small host arrays of one step (token ids, positions, KV slots, masks) into tensors.
 *
 * <p>Creating tensors from Java arrays makes DJL allocate a fresh JVM direct buffer per array,
 * freed only when the garbage collector finds it: thousands per second under load, seen as native
 * memory creeping up between collections. This arena is one direct buffer reused every step. On
 * the CPU a staged tensor aliases the arena (no copy at all) and is valid until {@link #reset};
 * on a GPU it is copied to the device at once and owns its memory.
 *
 * <p>Single-threaded: one arena per model runner, reset at the start of each step after the
 * previous step's arrays were closed.
 */
public final class HostStaging {

    private static final int ALIGN = 64;

    private final Device device;
    private ByteBuffer arena;
    private int used;
    private int highWater;

    public HostStaging(Device device, int initialBytes) {
        this.device = device;
        this.arena = allocate(Math.max(initialBytes, 4096));
    }

    /** Starts a new step; every array staged before this call must already be closed. */
    public void reset() {
        if (highWater > arena.capacity()) {
            // The previous step outgrew the arena into overflow buffers: grow once, to fit it next time.
            arena = allocate(highWater + highWater / 2);
        }
        used = 0;
        highWater = 0;
    }

    /** An int64 tensor holding {@code values[0..count)}. */
    public NDArray longs(NDManager manager, long[] values, int count, Shape shape) {
        ByteBuffer region = region(count * 8L);
        region.asLongBuffer().put(values, 0, count);
        return place(manager, region, shape, DataType.INT64);
    }

    /** A float32 tensor holding {@code values[0..count)}. */
    public NDArray floats(NDManager manager, float[] values, int count, Shape shape) {
        ByteBuffer region = region(count * 4L);
        region.asFloatBuffer().put(values, 0, count);
        return place(manager, region, shape, DataType.FLOAT32);
    }

    private NDArray place(NDManager manager, ByteBuffer region, Shape shape, DataType type) {
        if (!device.isGpu()) {
            return manager.create(region, shape, type);
        }
        try (NDManager temp = manager.newSubManager(Device.cpu())) {
            NDArray host = temp.create(region, shape, type);
            NDArray onDevice = host.toDevice(device, true);
            onDevice.attach(manager);
            return onDevice;
        }
    }

    private ByteBuffer region(long bytes) {
        int exact = Math.toIntExact(bytes);
        int size = Math.toIntExact((bytes + ALIGN - 1) / ALIGN * ALIGN);
        highWater += size;
        if (used + size > arena.capacity()) {
            // Rare: this step needs more than the arena. Use a one-off buffer; reset() grows the arena.
            return allocate(exact);
        }
        ByteBuffer region = arena.slice(used, exact).order(ByteOrder.nativeOrder());
        used += size;
        return region;
    }

    private static ByteBuffer allocate(int bytes) {
        return ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder());
    }
}
