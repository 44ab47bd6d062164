package io.spillway.vectors.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An append-only log of opaque records in numbered segments ({@code wal-<first seq>.log}).
 *
 * <p>Each record is framed as {@code [length u32][crc32c u32][payload]}. A process killed in the
 * middle of an append leaves a torn record at the tail of the last segment: replay detects it (short
 * frame or checksum mismatch), truncates it away and carries on, so it is never applied and the
 * next append does not land after garbage. The same damage anywhere else is corruption, and
 * replay refuses to guess.
 *
 * <p>Not thread-safe: the owning collection serializes appends.
 */
public final class WriteAheadLog implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(WriteAheadLog.class);
    private static final int HEADER = 8;
    public static final int MAX_RECORD_BYTES = 1 << 30;

    private final Path dir;
    private final boolean fsync;
    private FileChannel channel;
    private Path segment;
    private long segmentBytes;
    private IOException broken;

    private WriteAheadLog(Path dir, boolean fsync) {
        this.dir = dir;
        this.fsync = fsync;
    }

    /**
     * Replays every segment in order into {@code apply}, repairs a torn tail, and returns the log
     * ready to append. Segments are named by the first sequence number they may hold; the caller
     * skips records at or below its snapshot.
     */
    public static WriteAheadLog openAndReplay(Path dir, long nextSeq, boolean fsync, Consumer<ByteBuffer> apply) throws IOException {
        List<Path> segments = segments(dir);
        for (int i = 0; i < segments.size(); i++) {
            replaySegment(segments.get(i), i == segments.size() - 1, apply);
        }
        WriteAheadLog wal = new WriteAheadLog(dir, fsync);
        if (segments.isEmpty()) {
            wal.startSegment(nextSeq);
        } else {
            Path last = segments.get(segments.size() - 1);
            wal.segment = last;
            wal.channel = FileChannel.open(last, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
            wal.segmentBytes = wal.channel.size();
        }
        return wal;
    }

    static List<Path> segments(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().matches("wal-\\d{20}\\.log"))
                    .sorted()
                    .toList();
        }
    }

    static long firstSeq(Path segment) {
        String name = segment.getFileName().toString();
        return Long.parseLong(name.substring(4, 24));
    }

    private static void replaySegment(Path file, boolean last, Consumer<ByteBuffer> apply) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            long size = ch.size();
            long pos = 0;
            ByteBuffer header = ByteBuffer.allocate(HEADER);
            CRC32C crc = new CRC32C();
            while (pos < size) {
                String torn = null;
                int length = 0;
                int expectedCrc = 0;
                if (size - pos < HEADER) {
                    torn = "a partial frame header";
                } else {
                    header.clear();
                    readFully(ch, header, pos);
                    header.flip();
                    length = header.getInt();
                    expectedCrc = header.getInt();
                    if (length < 0 || length > MAX_RECORD_BYTES || length > size - pos - HEADER) {
                        torn = "a frame of " + length + " bytes with " + (size - pos - HEADER) + " left";
                    }
                }
                ByteBuffer payload = null;
                if (torn == null) {
                    payload = ByteBuffer.allocate(length);
                    readFully(ch, payload, pos + HEADER);
                    payload.flip();
                    crc.reset();
                    crc.update(payload.duplicate());
                    if ((int) crc.getValue() != expectedCrc) {
                        torn = "a checksum mismatch";
                    }
                }
                if (torn != null) {
                    if (!last) {
                        throw new IOException("write-ahead log " + file + " is corrupt at byte " + pos + " (" + torn
                                + ") and is not the newest segment: refusing to guess what was written");
                    }
                    LOG.warn("write-ahead log {}: dropping a torn final record at byte {} ({}; {} bytes): a write that was"
                            + " never acknowledged", file, pos, torn, size - pos);
                    ch.truncate(pos);
                    ch.force(true);
                    return;
                }
                apply.accept(payload);
                pos += HEADER + length;
            }
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long p = position;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, p);
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
            p += n;
        }
    }

    /** Appends one record; when this returns (and fsync is on) the record survives a power cut. */
    public void append(byte[] payload) throws IOException {
        if (broken != null) {
            throw new IOException("write-ahead log " + segment + " refuses writes after an earlier failure", broken);
        }
        if (payload.length > MAX_RECORD_BYTES) {
            throw new IOException("record of " + payload.length + " bytes exceeds the log's limit");
        }
        CRC32C crc = new CRC32C();
        crc.update(payload);
        ByteBuffer frame = ByteBuffer.allocate(HEADER + payload.length);
        frame.putInt(payload.length).putInt((int) crc.getValue()).put(payload).flip();
        try {
            while (frame.hasRemaining()) {
                channel.write(frame);
            }
            if (fsync) {
                channel.force(false);
            }
        } catch (IOException e) {
            // A partial frame must not stay in front of later records (replay would stop at it and
            // drop them): cut it off, or refuse every later write if even that fails.
            try {
                channel.truncate(segmentBytes);
            } catch (IOException again) {
                e.addSuppressed(again);
                broken = e;
            }
            throw e;
        }
        segmentBytes += HEADER + payload.length;
    }

    public long segmentBytes() {
        return segmentBytes;
    }

    /** Starts a new segment for records from {@code nextSeq} on (after a snapshot up to nextSeq − 1). */
    public void rotate(long nextSeq) throws IOException {
        channel.force(true);
        channel.close();
        startSegment(nextSeq);
    }

    /** Deletes segments that hold nothing after {@code snapshotSeq}. */
    public void deleteSegmentsCoveredBy(long snapshotSeq) throws IOException {
        List<Path> all = segments(dir);
        List<Path> doomed = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) {
            // A segment is covered when the next one starts at or before snapshotSeq + 1.
            if (i + 1 < all.size() && firstSeq(all.get(i + 1)) <= snapshotSeq + 1 && !all.get(i).equals(segment)) {
                doomed.add(all.get(i));
            }
        }
        for (Path p : doomed) {
            Files.deleteIfExists(p);
        }
        if (!doomed.isEmpty()) {
            Durable.syncDirectory(dir);
        }
    }

    private void startSegment(long firstSeq) throws IOException {
        segment = dir.resolve(String.format("wal-%020d.log", firstSeq));
        channel = OwnerOnly.open(segment, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        segmentBytes = channel.size();
        Durable.syncDirectory(dir);
    }

    @Override
    public void close() throws IOException {
        if (channel != null && channel.isOpen()) {
            channel.force(true);
            channel.close();
        }
    }
}
