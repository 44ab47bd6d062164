package io.spillway.server.platform.audit;

import io.spillway.server.platform.keys.Sha256;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The hash chain that makes the audit trail tamper-evident. Every line ends with
 * {@code ,"prev_hash":"P","hash":"H"}: {@code P} is the hash of the line before it (the last line
 * of the previous file for a file's first line; 64 zeros for the first line ever written) and
 * {@code H} is the SHA-256 of the line's own bytes up to, not including, {@code ,"hash":}. A line
 * edited in place no longer matches its own hash; a line removed, or two lines swapped, break the
 * link from the line after them. What the chain cannot show alone is the loss of its newest lines:
 * {@link Verified#lastHash} is the value to keep elsewhere (a ticket, a timestamping service) to
 * prove that too.
 */
public final class AuditChain {

    /** The hash before the first line ever written. */
    public static final String GENESIS = "0".repeat(64);

    private static final String PREV = ",\"prev_hash\":\"";
    private static final String HASH = ",\"hash\":\"";
    /** {@code ,"hash":"} + 64 hex digits + {@code "}}. */
    private static final int HASH_SUFFIX = HASH.length() + 64 + 2;
    /** {@code ,"prev_hash":"} + 64 hex digits + {@code "}. */
    private static final int PREV_SUFFIX = PREV.length() + 64 + 1;
    private static final Pattern FILE = Pattern.compile("audit-(\\d{4}-\\d{2}-\\d{2})\\.(\\d+)\\.jsonl");

    private AuditChain() {
    }

    /** The outcome of checking a directory's trail. */
    public sealed interface Result {
    }

    /** Every line is where its chain says. */
    public record Verified(int files, long lines, String firstPrevHash, String lastHash) implements Result {
    }

    /** The first line that breaks the chain, and how. */
    public record Broken(Path file, long line, String why) implements Result {
    }

    /** {@code record}'s JSON object (one line, ending in '}') closed into a chained line after {@code prevHash}; returns line and hash. */
    static Link link(String recordJson, String prevHash) {
        String body = recordJson.substring(0, recordJson.length() - 1) + PREV + prevHash + "\"";
        String hash = Sha256.hex(body);
        return new Link(body + HASH + hash + "\"}", hash);
    }

    /** One chained line (without its newline) and its hash. */
    record Link(String line, String hash) {
    }

    /** The trail's files in the order they were written: by day, then by number. */
    static List<Path> files(Path dir) throws IOException {
        List<Path> files = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(p -> FILE.matcher(p.getFileName().toString()).matches()).forEach(files::add);
        }
        files.sort(Comparator.comparing((Path p) -> day(p)).thenComparingInt(AuditChain::number));
        return files;
    }

    static String day(Path file) {
        Matcher m = FILE.matcher(file.getFileName().toString());
        return m.matches() ? m.group(1) : "";
    }

    static int number(Path file) {
        Matcher m = FILE.matcher(file.getFileName().toString());
        return m.matches() ? Integer.parseInt(m.group(2)) : -1;
    }

    /**
     * Readies {@code dir}'s trail for appending and returns the hash the next line follows: the
     * newest line's, or {@link #GENESIS}. A newest file that does not end in a newline holds a line
     * cut short while it was written (the process died mid-write): those bytes were never a
     * record, and are cut off, loudly, so that the next line starts on a line of its own.
     *
     * @return the head, and how many torn bytes were cut (0 almost always)
     */
    static Resumed resume(Path dir) throws IOException {
        List<Path> files = files(dir);
        long cut = 0;
        boolean unchainedTail = false;
        for (int i = files.size() - 1; i >= 0; i--) {
            byte[] bytes = Files.readAllBytes(files.get(i));
            Lines lines = lines(bytes);
            if (i == files.size() - 1 && lines.torn()) {
                int end = bytes.length;
                while (end > 0 && bytes[end - 1] != '\n') {
                    end--;
                }
                cut = bytes.length - end;
                try (FileChannel channel = FileChannel.open(files.get(i), StandardOpenOption.WRITE)) {
                    channel.truncate(end);
                }
            }
            List<byte[]> complete = lines.complete();
            if (i == files.size() - 1 && !complete.isEmpty()) {
                unchainedTail = ownHash(complete.get(complete.size() - 1)).isEmpty();
            }
            for (int j = complete.size() - 1; j >= 0; j--) {
                Optional<String> hash = ownHash(complete.get(j));
                if (hash.isPresent()) {
                    return new Resumed(hash.get(), cut, unchainedTail);
                }
            }
        }
        return new Resumed(GENESIS, cut, unchainedTail);
    }

    /**
     * Where a reopened trail goes on from, the bytes of a torn last line that were cut, and whether
     * the newest file ends in lines without a chain (written before the trail was chained): chained
     * lines then start a file of their own.
     */
    record Resumed(String head, long tornBytesCut, boolean unchainedTail) {
    }

    /** Checks the whole trail in {@code dir}, starting from {@code anchor} ({@link #GENESIS} for a trail kept whole). */
    public static Result verify(Path dir, String anchor) throws IOException {
        String expected = anchor;
        long total = 0;
        List<Path> files = files(dir);
        String previous = "the start of the trail";
        for (Path file : files) {
            Lines lines = lines(Files.readAllBytes(file));
            long n = 0;
            for (byte[] line : lines.complete()) {
                n++;
                Optional<String> hash = ownHash(line);
                if (hash.isEmpty()) {
                    return new Broken(file, n, "it is not a chained audit line (it was cut, joined or rewritten, or written"
                            + " before the trail was chained: such files are kept aside, not verified)");
                }
                int body = line.length - HASH_SUFFIX;
                if (!Sha256.hex(line, 0, body).equals(hash.get())) {
                    return new Broken(file, n, "its content does not match its hash: the line was changed");
                }
                String prev = new String(line, body - 65, 64, StandardCharsets.US_ASCII);
                if (!prev.equals(expected)) {
                    return new Broken(file, n, "it does not follow " + previous + ": a line before it was removed, or lines"
                            + " were reordered");
                }
                expected = hash.get();
                previous = file.getFileName() + ":" + n;
                total++;
            }
            if (lines.torn()) {
                return new Broken(file, n + 1, "it is incomplete: the file was cut inside it");
            }
        }
        return new Verified(files.size(), total, anchor, expected);
    }

    /** A file's newline-terminated lines, and whether bytes follow the last newline. */
    private record Lines(List<byte[]> complete, boolean torn) {
    }

    private static Lines lines(byte[] bytes) {
        List<byte[]> lines = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == '\n') {
                lines.add(Arrays.copyOfRange(bytes, start, i));
                start = i + 1;
            }
        }
        return new Lines(lines, start < bytes.length);
    }

    /** The hash a well-formed chained line carries, or empty. */
    private static Optional<String> ownHash(byte[] line) {
        if (line.length < HASH_SUFFIX + PREV_SUFFIX) {
            return Optional.empty();
        }
        String tail = new String(line, line.length - HASH_SUFFIX - PREV_SUFFIX, HASH_SUFFIX + PREV_SUFFIX, StandardCharsets.US_ASCII);
        if (!tail.startsWith(PREV) || !tail.startsWith(HASH, PREV_SUFFIX) || !tail.endsWith("\"}")) {
            return Optional.empty();
        }
        String prev = tail.substring(PREV.length(), PREV.length() + 64);
        String hash = tail.substring(PREV_SUFFIX + HASH.length(), PREV_SUFFIX + HASH.length() + 64);
        return hex(hash) && hex(prev) ? Optional.of(hash) : Optional.empty();
    }

    private static boolean hex(String s) {
        return s.length() == 64 && s.chars().allMatch(c -> (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    }
}
