package io.spillway.server.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.server.platform.safety.Blocklist;
import io.spillway.server.platform.safety.Finding;
import io.spillway.server.platform.safety.PiiDetector;
import io.spillway.server.platform.safety.PiiType;
import io.spillway.server.platform.safety.SafetyAction;
import io.spillway.server.platform.safety.SafetyPolicy;
import io.spillway.server.platform.safety.StreamRedactor;
import io.spillway.server.platform.safety.TextFilter;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * PII detection against a labelled corpus (src/test/resources/pii/corpus.tsv: positives of every
 * type and negatives full of numbers that are not PII), and streaming redaction at every split.
 */
class PiiDetectionTest {

    record Example(String expected, String text) {
    }

    static List<Example> corpus() throws IOException {
        try (InputStream in = PiiDetectionTest.class.getResourceAsStream("/pii/corpus.tsv")) {
            List<Example> out = new ArrayList<>();
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                String[] parts = line.split("\t", 2);
                out.add(new Example(parts[0], parts[1]));
            }
            return out;
        }
    }

    /**
     * Precision and recall per type, held to what the project claims for this corpus: 1.000 for
     * both, for every type. An aggregate threshold would let a type the detector never finds hide
     * behind the others (three AWS keys are under 6 % of the positives).
     */
    @Test
    void everyTypeIsFoundEverywhereAndNowhereElseOnTheCorpus() throws IOException {
        List<Example> corpus = corpus();
        Map<String, Integer> positives = new TreeMap<>();
        Map<String, List<String>> misses = new TreeMap<>();
        Map<String, List<String>> falseAlarms = new TreeMap<>();
        PiiDetector detector = PiiDetector.all();
        int negatives = 0;
        for (Example e : corpus) {
            if (e.expected().equals("none")) {
                negatives++;
            } else {
                positives.merge(e.expected(), 1, Integer::sum);
            }
            boolean hit = false;
            for (Finding f : detector.find(e.text())) {
                if (f.type().equals(e.expected()) && !hit) {
                    hit = true;
                } else {
                    falseAlarms.computeIfAbsent(f.type(), t -> new ArrayList<>()).add(e.text());
                }
            }
            if (!hit && !e.expected().equals("none")) {
                misses.computeIfAbsent(e.expected(), t -> new ArrayList<>()).add(e.text());
            }
        }
        for (String type : positives.keySet()) {
            int found = positives.get(type) - misses.getOrDefault(type, List.of()).size();
            int alarms = falseAlarms.getOrDefault(type, List.of()).size();
            System.out.printf("PII corpus, %s: %d examples, recall %.3f, precision %.3f%n", type, positives.get(type),
                    found / (double) positives.get(type), found + alarms == 0 ? 0 : found / (double) (found + alarms));
        }
        assertTrue(negatives >= 50, "the corpus has at least 50 negatives: " + negatives);
        for (PiiType type : PiiType.values()) {
            assertTrue(positives.getOrDefault(type.id(), 0) >= 3, "the corpus has at least 3 examples of " + type.id() + ": " + positives);
        }
        assertEquals(Map.of(), misses, "recall below 1.000: missed");
        assertEquals(Map.of(), falseAlarms, "precision below 1.000: found where they are not");
    }

    private static TextFilter redacting() {
        return new TextFilter(new SafetyPolicy(SafetyAction.REDACT, EnumSet.allOf(PiiType.class), SafetyAction.REDACT, SafetyAction.OFF,
                false), new Blocklist(List.of("project nightingale")), Optional.empty());
    }

    @Test
    void aCardNumberSplitAtAnyPointAcrossChunksIsNeverReleased() {
        String text = "Sure. Your card 4111 1111 1111 1111 is on file, and mail goes to bob@example.com. Project Nightingale is"
                + " secret. Call +1 415 555 2671.";
        String whole = redacting().apply(text).text();
        assertEquals("Sure. Your card [REDACTED_CREDIT_CARD] is on file, and mail goes to [REDACTED_EMAIL]. [BLOCKED] is secret."
                + " Call [REDACTED_PHONE].", whole);
        Random random = new Random(7);
        for (int trial = 0; trial < 2000; trial++) {
            StreamRedactor r = new StreamRedactor(redacting());
            StringBuilder out = new StringBuilder();
            int at = 0;
            while (at < text.length()) {
                int n = 1 + random.nextInt(trial % 2 == 0 ? 3 : 12);
                String released = r.add(text.substring(at, Math.min(text.length(), at + n)));
                assertFalse(released.matches("(?s).*\\d{4}.*") && !released.contains("REDACTED"), "released digits: " + released);
                assertFalse(released.contains("1111") || released.contains("@example") || released.contains("Nightingale"),
                        "a piece of a match was released: '" + released + "'");
                out.append(released);
                at += n;
            }
            out.append(r.flush());
            assertEquals(whole, out.toString());
        }
    }

    @Test
    void aFlagOnlyPolicyNeverHoldsAStreamBackButStillCountsWhatItSaw() {
        TextFilter flagging = new TextFilter(new SafetyPolicy(SafetyAction.FLAG, EnumSet.allOf(PiiType.class), SafetyAction.OFF,
                SafetyAction.OFF, false), new Blocklist(List.of()), Optional.empty());
        StreamRedactor r = new StreamRedactor(flagging);
        String text = "card 4111 1111 1111 1111 and mail bob@example.com";
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < text.length(); i += 3) {
            String piece = text.substring(i, Math.min(text.length(), i + 3));
            assertEquals(piece, r.add(piece), "released at once");
            out.append(piece);
        }
        assertEquals("", r.flush());
        assertEquals(text, out.toString());
        assertEquals(List.of("credit_card", "email"), r.findings().stream().map(Finding::type).toList());
    }

    @Test
    void checkDigitsSeparateNumbersFromIdentifiers() {
        PiiDetector d = PiiDetector.all();
        assertEquals(List.of("credit_card"), d.find("4111-1111-1111-1111").stream().map(Finding::type).toList());
        assertEquals(List.of(), d.find("4111-1111-1111-1112"));
        assertEquals(List.of("iban"), d.find("GB82 WEST 1234 5698 7654 32").stream().map(Finding::type).toList());
        assertFalse(d.find("GB83 WEST 1234 5698 7654 32").stream().anyMatch(f -> f.type().equals("iban")));
    }
}
