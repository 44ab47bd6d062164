package io.spillway.vectors.storage;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import java.util.zip.CheckedInputStream;
import java.util.zip.CheckedOutputStream;

/**
 * A point-in-time image of a collection ({@code snapshot-<seq>.bin}): a header with the last
 * sequence number it covers, the payload's length and checksum, then the payload. Written to a
 * temporary file, synced and renamed, so a reader sees a whole snapshot or none.
 */
public final class SnapshotFile {

    private static final long MAGIC = 0x5350575348534e50L; // "SPWSHSNP"
    private static final int FORMAT = 1;
    private static final int HEADER = 8 + 4 + 8 + 8 + 4;

    /** Writes the payload into a stream; the stream must not be closed by the writer. */
    public interface PayloadWriter {
        void write(OutputStream out) throws IOException;
    }

    /** Reads the payload from a stream holding exactly its bytes. */
    public interface PayloadReader<T> {
        T read(InputStream in) throws IOException;
    }

    public record Loaded<T>(long seq, T value) {
    }

    private SnapshotFile() {
    }

    public static void write(Path dir, long seq, PayloadWriter writer) throws IOException {
        Path target = dir.resolve(String.format("snapshot-%020d.bin", seq));
        Path tmp = dir.resolve(target.getFileName() + ".tmp");
        CRC32C crc = new CRC32C();
        long length;
        try (FileChannel ch = OwnerOnly.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ch.position(HEADER);
            CountingStream counted = new CountingStream(new CheckedOutputStream(
                    new BufferedOutputStream(Channels.newOutputStream(ch), 1 << 20), crc));
            writer.write(new NonClosing(counted));
            counted.flush();
            length = counted.count;
            ByteBuffer header = ByteBuffer.allocate(HEADER);
            header.putLong(MAGIC).putInt(FORMAT).putLong(seq).putLong(length).putInt((int) crc.getValue()).flip();
            while (header.hasRemaining()) {
                ch.write(header, HEADER - header.remaining());
            }
            ch.force(true);
        }
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        Durable.syncDirectory(dir);
        for (Path old : list(dir)) {
            if (!old.equals(target)) {
                Files.deleteIfExists(old);
            }
        }
    }

    /** The newest snapshot, verified against its checksum before anything is parsed. */
    public static <T> Optional<Loaded<T>> readLatest(Path dir, PayloadReader<T> reader) throws IOException {
        List<Path> all = list(dir);
        if (all.isEmpty()) {
            return Optional.empty();
        }
        Path file = all.get(all.size() - 1);
        long seq;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer header = ByteBuffer.allocate(HEADER);
            while (header.hasRemaining() && ch.read(header) >= 0) {
                // fill
            }
            header.flip();
            if (header.remaining() < HEADER || header.getLong() != MAGIC) {
                throw new IOException("snapshot " + file + " has no valid header");
            }
            int format = header.getInt();
            if (format != FORMAT) {
                throw new IOException("snapshot " + file + " has format " + format + "; this build reads " + FORMAT);
            }
            seq = header.getLong();
            long length = header.getLong();
            int expected = header.getInt();
            if (length != ch.size() - HEADER) {
                throw new IOException("snapshot " + file + " holds " + (ch.size() - HEADER) + " payload bytes, its header says " + length);
            }
            CRC32C crc = new CRC32C();
            try (InputStream in = new CheckedInputStream(new BufferedInputStream(Channels.newInputStream(ch.position(HEADER)), 1 << 20), crc)) {
                in.transferTo(OutputStream.nullOutputStream());
            }
            if ((int) crc.getValue() != expected) {
                throw new IOException("snapshot " + file + " fails its checksum: the file is damaged");
            }
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ch.position(HEADER);
            try (InputStream in = new BufferedInputStream(Channels.newInputStream(ch), 1 << 20)) {
                return Optional.of(new Loaded<>(seq, reader.read(in)));
            }
        }
    }

    static List<Path> list(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().matches("snapshot-\\d{20}\\.bin")).sorted().toList();
        }
    }

    private static final class CountingStream extends FilterOutputStream {
        long count;

        CountingStream(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }
    }

    private static final class NonClosing extends FilterOutputStream {
        NonClosing(OutputStream out) {
            super(out);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
        }

        @Override
        public void close() throws IOException {
            out.flush();
        }
    }
}
