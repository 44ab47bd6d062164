package io.spillway.models.runtime;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
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
 * <p>{@link #batched}: the int64 arrays of a step are views of one device tensor, filled by a single
 * host-to-device copy at {@link #flush}, instead of a synchronous copy each (a forward pass stages
 * 6 to 11 of them). The CPU runs the same code, with a memory copy for the transfer, so the path a
 * GPU takes is the one the tests run. Nothing may read a staged int64 array before the flush.
 *
 * <p>Single-threaded: one arena per model runner, reset at the start of each step after the
 * previous step's arrays were closed.
 */
public final class HostStaging {

    private static final int ALIGN = 64;

    private final Device device;
    private final boolean batched;
    private ByteBuffer arena;
    private int used;
    private int highWater;
    /** In batched mode, this step's device tensor of int64 words that staged arrays view; null until the first. */
    private NDArray deviceWords;
    private int pendingWords;
    private long transfers;

    /** Each staged array placed on the device at once (one copy each on a GPU). */
    public HostStaging(Device device, int initialBytes) {
        this(device, initialBytes, false);
    }

    private HostStaging(Device device, int initialBytes, boolean batched) {
        this.device = device;
        this.batched = batched;
        this.arena = allocate(Math.max(initialBytes, 4096));
    }

    /** int64 arrays staged for one transfer per step, at {@link #flush}. */
    public static HostStaging batched(Device device, int initialBytes) {
        return new HostStaging(device, initialBytes, true);
    }

    /** Starts a new step; every array staged before this call must already be closed. */
    public void reset() {
        if (highWater > arena.capacity()) {
            // The previous step outgrew the arena into overflow buffers: grow once, to fit it next time.
            arena = allocate(highWater + highWater / 2);
        }
        used = 0;
        highWater = 0;
        deviceWords = null;
        pendingWords = 0;
    }

    /** An int64 tensor holding {@code values[0..count)}; in batched mode, filled only at {@link #flush}. */
    public NDArray longs(NDManager manager, long[] values, int count, Shape shape) {
        boolean inArena = fits(count * 8L);
        int offset = used;
        ByteBuffer region = region(count * 8L);
        region.asLongBuffer().put(values, 0, count);
        if (!batched || !inArena) {
            // Not batched, or an overflow buffer outside the arena (reset() grows the arena for the next step).
            return place(manager, region, shape, DataType.INT64);
        }
        if (deviceWords == null) {
            deviceWords = manager.create(new Shape(arena.capacity() / 8), DataType.INT64, device);
        }
        int word = offset / 8;
        pendingWords = Math.max(pendingWords, word + count);
        return deviceWords.get(new NDIndex("{}:{}", word, word + count)).reshape(shape);
    }

    /**
     * Copies every int64 array staged since {@link #reset} to the device in one transfer (batched
     * mode; otherwise there is nothing pending). Call it before anything reads them.
     */
    public void flush(NDManager manager) {
        if (pendingWords == 0) {
            return;
        }
        try (NDManager temp = manager.newSubManager(Device.cpu())) {
            NDArray host = temp.create(arena.slice(0, pendingWords * 8).order(ByteOrder.nativeOrder()), new Shape(pendingWords), DataType.INT64);
            deviceWords.set(new NDIndex("{}:{}", 0, pendingWords), host);
        }
        transfers++;
        pendingWords = 0;
    }

    /** Host-to-device copies made so far (on the CPU, the copies that stand for them). */
    public long transfers() {
        return transfers;
    }

    /** A float32 tensor holding {@code values[0..count)}. */
    public NDArray floats(NDManager manager, float[] values, int count, Shape shape) {
        ByteBuffer region = region(count * 4L);
        region.asFloatBuffer().put(values, 0, count);
        return place(manager, region, shape, DataType.FLOAT32);
    }

    private NDArray place(NDManager manager, ByteBuffer region, Shape shape, DataType type) {
        if (batched || device.isGpu()) {
            // Batched mode counts as the GPU would copy, so that the CPU's tests see the device's count.
            transfers++;
        }
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

    private static int aligned(long bytes) {
        return Math.toIntExact((bytes + ALIGN - 1) / ALIGN * ALIGN);
    }

    private boolean fits(long bytes) {
        return used + aligned(bytes) <= arena.capacity();
    }

    private ByteBuffer region(long bytes) {
        int exact = Math.toIntExact(bytes);
        int size = aligned(bytes);
        highWater += size;
        if (!fits(bytes)) {
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
