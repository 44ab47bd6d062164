package io.spillway.server.platform.safety;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/** Placeholders go back to their values however the stream splits them. */
class PlaceholderRestorerTest {

    private static final Map<String, String> VALUES = Map.of("<EMAIL_1>", "ann@example.com", "<CARD_1>", "4111 1111 1111 1111",
            "<AWS_KEY_12>", "AKIAIOSFODNN7EXAMPLE");
    private static final String ANSWER = "Dear <EMAIL_1>, card <CARD_1> is <b>on</b> file < 3 days; <EMAIL_1> again, <EMAIL_9>"
            + " unknown, <AWS_KEY_12>.<CARD_1><";
    private static final String EXPECTED = "Dear ann@example.com, card 4111 1111 1111 1111 is <b>on</b> file < 3 days;"
            + " ann@example.com again, <EMAIL_9> unknown, AKIAIOSFODNN7EXAMPLE.4111 1111 1111 1111<";

    private static String restore(String... pieces) {
        PlaceholderRestorer r = new PlaceholderRestorer(VALUES, UnaryOperator.identity());
        StringBuilder out = new StringBuilder();
        for (String p : pieces) {
            out.append(r.add(p));
        }
        return out.append(r.flush()).toString();
    }

    @Test
    void restoresAtEverySplit() {
        assertEquals(EXPECTED, restore(ANSWER));
        for (int i = 0; i <= ANSWER.length(); i++) {
            assertEquals(EXPECTED, restore(ANSWER.substring(0, i), ANSWER.substring(i)), "split at " + i);
            for (int j = i; j <= ANSWER.length(); j++) {
                assertEquals(EXPECTED, restore(ANSWER.substring(0, i), ANSWER.substring(i, j), ANSWER.substring(j)),
                        "split at " + i + " and " + j);
            }
        }
    }

    @Test
    void restoresOneCharacterAtATimeAndInRandomPieces() {
        assertEquals(EXPECTED, restore(ANSWER.split("")));
        Random random = new Random(7);
        for (int trial = 0; trial < 500; trial++) {
            java.util.List<String> pieces = new java.util.ArrayList<>();
            for (int at = 0; at < ANSWER.length(); ) {
                int n = Math.min(ANSWER.length() - at, random.nextInt(6));
                pieces.add(ANSWER.substring(at, at + n));
                at += n;
            }
            assertEquals(EXPECTED, restore(pieces.toArray(String[]::new)), "pieces " + pieces);
        }
    }

    @Test
    void holdsBackAtMostAPlaceholdersLength() {
        PlaceholderRestorer r = new PlaceholderRestorer(VALUES, UnaryOperator.identity());
        assertEquals("Dear ", r.add("Dear <EMA"));
        assertEquals("ann@example.com, a < b", r.add("IL_1>, a < b"));
        String released = r.add("<" + "A".repeat(30));
        assertTrue(released.startsWith("<AAAA"), "a '<' that cannot begin a placeholder is not held: " + released);
    }

    @Test
    void valuesInToolArgumentsAreWrittenAsJsonStringContent() {
        PlaceholderRestorer r = new PlaceholderRestorer(Map.of("<EMAIL_1>", "a\"b@example.com"), v -> v.replace("\"", "\\\""));
        assertEquals("{\"to\":\"a\\\"b@example.com\"}", r.add("{\"to\":\"<EMAIL_1>\"}") + r.flush());
    }
}
