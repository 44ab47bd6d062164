package io.spillway.server.platform.audit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.server.cli.SpillwayCli;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The audit trail's hash chain: written across size rotations, a new day and a restart, it
 * verifies; a line edited, removed or swapped with its neighbour is named, and so is a file
 * removed from the middle or the start.
 */
class AuditChainTest {

    @TempDir
    Path dir;

    private List<Path> files;

    private static AuditRecord record(int i) {
        return new AuditRecord("req-" + i, "2026-11-30T00:00:00Z", "key", "acme", "chat", "m", i % 2 == 0 ? "local" : "bedrock",
                List.of("capacity"), "miss", 10 + i, 5, 0.001 * i, Map.of(), Map.of("email", 1), Map.of(), 200, null, 0.5,
                null, i % 2 == 0 ? null : "ab".repeat(32));
    }

    private static void write(Path dir, Clock clock, int from, int to) {
        try (AuditLog log = new AuditLog(dir, 4096, false, clock)) {
            for (int i = from; i < to; i++) {
                log.append(record(i));
            }
        }
    }

    @BeforeEach
    void writeATrailAcrossRotationsDaysAndARestart() throws Exception {
        Clock day1 = Clock.fixed(Instant.parse("2026-11-29T23:00:00Z"), ZoneOffset.UTC);
        Clock day2 = Clock.fixed(Instant.parse("2026-11-30T01:00:00Z"), ZoneOffset.UTC);
        write(dir, day1, 0, 80);
        write(dir, day2, 80, 95);
        write(dir, day2, 95, 110); // a restart: the chain goes on from the last line written
        files = AuditChain.files(dir);
        assertTrue(files.stream().filter(f -> AuditChain.day(f).equals("2026-11-29")).count() >= 11,
                "more than ten files in a day, so that their order is by number, not by name: " + files);
        assertTrue(files.get(0).getFileName().toString().startsWith("audit-2026-11-29."), files.toString());
    }

    private List<String> lines(Path file) throws Exception {
        return new ArrayList<>(Files.readAllLines(file, StandardCharsets.UTF_8));
    }

    private void rewrite(Path file, List<String> lines) throws Exception {
        Files.write(file, lines, StandardCharsets.UTF_8);
    }

    private AuditChain.Broken broken() throws Exception {
        return assertInstanceOf(AuditChain.Broken.class, AuditChain.verify(dir, AuditChain.GENESIS));
    }

    @Test
    void anUntouchedTrailVerifies() throws Exception {
        AuditChain.Verified v = assertInstanceOf(AuditChain.Verified.class, AuditChain.verify(dir, AuditChain.GENESIS));
        assertEquals(110, v.lines());
        assertEquals(files.size(), v.files());
        List<String> last = lines(files.get(files.size() - 1));
        assertTrue(last.get(last.size() - 1).endsWith(",\"hash\":\"" + v.lastHash() + "\"}"));
    }

    @Test
    void anEditedLineIsNamed() throws Exception {
        Path file = files.get(1);
        List<String> lines = lines(file);
        lines.set(2, lines.get(2).replace("\"prompt_tokens\":", "\"prompt_tokens\":1"));
        rewrite(file, lines);
        AuditChain.Broken b = broken();
        assertEquals(file, b.file());
        assertEquals(3, b.line());
        assertTrue(b.why().contains("changed"), b.why());
    }

    @Test
    void anEditedLineWithItsOwnHashRecomputedBreaksTheNextLink() throws Exception {
        Path file = files.get(0);
        List<String> lines = lines(file);
        String line = lines.get(1);
        int cut = line.lastIndexOf(",\"prev_hash\":\"");
        String forged = line.substring(0, cut).replace("\"tenant\":\"acme\"", "\"tenant\":\"evil\"") + "}";
        String prev = line.substring(cut + 14, cut + 78);
        lines.set(1, AuditChain.link(forged, prev).line());
        rewrite(file, lines);
        AuditChain.Broken b = broken();
        assertEquals(file, b.file());
        assertEquals(3, b.line(), "the forged line hashes right, the one after it no longer follows it");
        assertTrue(b.why().contains(file.getFileName() + ":2"), b.why());
    }

    @Test
    void aRemovedLineIsNamed() throws Exception {
        Path file = files.get(2);
        List<String> lines = lines(file);
        lines.remove(4);
        rewrite(file, lines);
        AuditChain.Broken b = broken();
        assertEquals(file, b.file());
        assertEquals(5, b.line());
        assertTrue(b.why().contains("removed"), b.why());
    }

    @Test
    void swappedLinesAreNamed() throws Exception {
        Path file = files.get(1);
        List<String> lines = lines(file);
        String a = lines.get(3);
        lines.set(3, lines.get(4));
        lines.set(4, a);
        rewrite(file, lines);
        AuditChain.Broken b = broken();
        assertEquals(file, b.file());
        assertEquals(4, b.line());
    }

    @Test
    void aFileRemovedFromTheMiddleOrTheStartIsNoticed() throws Exception {
        Path middle = files.get(1);
        List<String> firstOfNext = lines(files.get(2));
        Files.delete(middle);
        AuditChain.Broken b = broken();
        assertEquals(files.get(2), b.file());
        assertEquals(1, b.line());
        assertTrue(!firstOfNext.isEmpty());

        Files.delete(files.get(0));
        assertEquals(files.get(2), broken().file(), "the oldest file kept does not start the trail");
    }

    @Test
    void archivedOlderFilesVerifyFromTheirAnchor() throws Exception {
        List<String> first = lines(files.get(0));
        String last = first.get(first.size() - 1);
        String anchor = last.substring(last.length() - 66, last.length() - 2);
        Files.delete(files.get(0));
        broken();
        AuditChain.Verified v = assertInstanceOf(AuditChain.Verified.class, AuditChain.verify(dir, anchor));
        assertEquals(110 - first.size(), v.lines());
    }

    @Test
    void aLineTornByACrashIsCutAtTheNextStartAndTheChainGoesOn() throws Exception {
        Path newest = files.get(files.size() - 1);
        byte[] torn = "{\"request_id\":\"req-torn\",\"tenant\":\"caf\u00e9".getBytes(StandardCharsets.UTF_8);
        // Cut inside the two bytes of a character, as a crash may.
        Files.write(newest, java.util.Arrays.copyOf(torn, torn.length - 1), java.nio.file.StandardOpenOption.APPEND);
        AuditChain.Broken b = broken();
        assertEquals(newest, b.file());
        assertTrue(b.why().contains("incomplete"), b.why());

        write(dir, Clock.fixed(Instant.parse("2026-11-30T02:00:00Z"), ZoneOffset.UTC), 110, 115);
        AuditChain.Verified v = assertInstanceOf(AuditChain.Verified.class, AuditChain.verify(dir, AuditChain.GENESIS));
        assertEquals(115, v.lines());
    }

    @Test
    void aClockSteppedBackADayKeepsWritingToTheNewestFile() throws Exception {
        write(dir, Clock.fixed(Instant.parse("2026-11-29T23:59:00Z"), ZoneOffset.UTC), 110, 120);
        assertEquals(files.get(0).getFileName().toString(), AuditChain.files(dir).get(0).getFileName().toString());
        assertInstanceOf(AuditChain.Verified.class, AuditChain.verify(dir, AuditChain.GENESIS));
    }

    @Test
    void aTrailFromBeforeTheChainGetsChainedLinesInAFileOfItsOwn(@TempDir Path legacy) throws Exception {
        Path old = legacy.resolve("audit-2026-11-30.0.jsonl");
        Files.writeString(old, "{\"request_id\":\"before\",\"status\":200}\n");
        write(legacy, Clock.fixed(Instant.parse("2026-11-30T12:00:00Z"), ZoneOffset.UTC), 0, 3);
        List<Path> written = AuditChain.files(legacy);
        assertEquals(List.of("audit-2026-11-30.0.jsonl", "audit-2026-11-30.1.jsonl"),
                written.stream().map(p -> p.getFileName().toString()).toList());
        assertEquals(1, lines(old).size(), "the old file is left as it was");
        AuditChain.Broken b = assertInstanceOf(AuditChain.Broken.class, AuditChain.verify(legacy, AuditChain.GENESIS));
        assertTrue(b.why().contains("before the trail was chained"), b.why());
        Files.move(old, legacy.resolve("unchained-" + old.getFileName()));
        AuditChain.Verified v = assertInstanceOf(AuditChain.Verified.class, AuditChain.verify(legacy, AuditChain.GENESIS));
        assertEquals(3, v.lines());
    }

    @Test
    void theCommandExitsZeroOnAWholeTrailAndOneNamingTheLineOtherwise() throws Exception {
        PrintStream saved = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            assertEquals(0, SpillwayCli.execute("audit", "verify", dir.toString()));
            assertTrue(out.toString(StandardCharsets.UTF_8).startsWith("ok: 110 lines in " + files.size() + " files"), out.toString());
            out.reset();
            Path file = files.get(0);
            List<String> lines = lines(file);
            lines.set(0, lines.get(0).replace("req-0", "req-X"));
            rewrite(file, lines);
            assertEquals(1, SpillwayCli.execute("audit", "verify", dir.toString()));
            assertTrue(out.toString(StandardCharsets.UTF_8).contains("BROKEN at " + file + " line 1:"), out.toString());
        } finally {
            System.setOut(saved);
        }
    }
}
