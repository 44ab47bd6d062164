package io.spillway.vectors;

/**
 * How collections persist.
 *
 * @param fsync sync the log on every acknowledged write. A killed process loses nothing either
 *     way (the bytes are in the kernel's page cache); fsync is what makes a write survive a power
 *     cut or a kernel crash, at the cost of one disk flush per write call (batch writes to amortize).
 * @param snapshotAfterLogBytes write a snapshot and start a new log segment once the current one
 *     is this large; bounds replay time at start-up.
 */
public record StorageOptions(boolean fsync, long snapshotAfterLogBytes) {

    public static final StorageOptions DEFAULT = new StorageOptions(true, 64L << 20);

    public StorageOptions {
        if (snapshotAfterLogBytes <= 0) {
            throw new IllegalArgumentException("snapshotAfterLogBytes must be positive");
        }
    }
}
