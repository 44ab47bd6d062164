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
    /** int64 arrays; in batched mode, what {@link #flush} copies. */
    private final Arena words;
    /** float32 arrays (the gather plan's masks), kept apart so that the flush never copies them. */
    private final Arena floats;
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
        this.words = new Arena(initialBytes);
        this.floats = new Arena(4096);
    }

    /** int64 arrays staged for one transfer per step, at {@link #flush}. */
    public static HostStaging batched(Device device, int initialBytes) {
        return new HostStaging(device, initialBytes, true);
    }

    /** Starts a new step; every array staged before this call must already be closed. */
    public void reset() {
        words.reset();
        floats.reset();
        deviceWords = null;
        pendingWords = 0;
    }

    /** An int64 tensor holding {@code values[0..count)}; in batched mode, filled only at {@link #flush}. */
    public NDArray longs(NDManager manager, long[] values, int count, Shape shape) {
        int offset = words.used;
        ByteBuffer region = words.region(count * 8L);
        region.asLongBuffer().put(values, 0, count);
        if (!batched || words.used == offset && count > 0) {
            // Not batched, or an overflow buffer outside the arena (reset() grows the arena for the next step).
            return place(manager, region, shape, DataType.INT64);
        }
        if (deviceWords == null) {
            deviceWords = manager.create(new Shape(words.capacity() / 8), DataType.INT64, device);
        }
        int word = offset / 8;
        pendingWords = Math.max(pendingWords, word + count);
        return deviceWords.get(new NDIndex("{}:{}", word, word + count)).reshape(shape);
    }

    /** A float32 tensor holding {@code values[0..count)}, placed on the device at once. */
    public NDArray floats(NDManager manager, float[] values, int count, Shape shape) {
        ByteBuffer region = floats.region(count * 4L);
        region.asFloatBuffer().put(values, 0, count);
        return place(manager, region, shape, DataType.FLOAT32);
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
            NDArray host = temp.create(words.slice(pendingWords * 8), new Shape(pendingWords), DataType.INT64);
            deviceWords.set(new NDIndex("{}:{}", 0, pendingWords), host);
        }
        transfers++;
        pendingWords = 0;
    }

    /** Host-to-device copies made so far (on the CPU, the copies that stand for them). */
    public long transfers() {
        return transfers;
    }

    private NDArray place(NDManager manager, ByteBuffer region, Shape shape, DataType type) {
        // Counted as the GPU copies, also on the CPU (where the tensor aliases the arena), so that
        // the CPU's tests see the device's count.
        transfers++;
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

    private static ByteBuffer allocate(int bytes) {
        return ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder());
    }

    /** One reused direct buffer, handed out in aligned regions; a step that outgrows it gets one-off buffers and a bigger one next step. */
    private static final class Arena {
        private ByteBuffer buffer;
        private int used;
        private long highWater;

        Arena(int initialBytes) {
            this.buffer = allocate(Math.max(initialBytes, 4096));
        }

        int capacity() {
            return buffer.capacity();
        }

        void reset() {
            // A direct buffer holds at most an int's worth of bytes; larger steps keep taking one-off buffers.
            long wanted = Math.min(highWater + highWater / 2, Integer.MAX_VALUE - 8);
            if (highWater > buffer.capacity() && wanted > buffer.capacity()) {
                buffer = allocate((int) wanted);
            }
            used = 0;
            highWater = 0;
        }

        /** {@code bytes} of the arena (advancing {@link #used}), or a one-off buffer when they do not fit (leaving it). */
        ByteBuffer region(long bytes) {
            int exact = Math.toIntExact(bytes);
            long size = (bytes + ALIGN - 1) / ALIGN * ALIGN;
            highWater += size;
            if (used + size > buffer.capacity()) {
                return allocate(exact);
            }
            ByteBuffer region = buffer.slice(used, exact).order(ByteOrder.nativeOrder());
            used += (int) size;
            return region;
        }

        ByteBuffer slice(int bytes) {
            return buffer.slice(0, bytes).order(ByteOrder.nativeOrder());
        }
    }
}
