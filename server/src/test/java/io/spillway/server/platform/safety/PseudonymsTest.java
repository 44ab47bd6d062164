package io.spillway.server.platform.safety;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

class PseudonymsTest {

    private final Pseudonyms pseudonyms = new Pseudonyms(PiiDetector.all());

    @Test
    void theSameValueIsAlwaysTheSamePlaceholderAndDifferentValuesDifferentOnes() {
        String first = pseudonyms.replace("Mail ann@example.com and bob@example.org, then ann@example.com again.");
        String second = pseudonyms.replace("Later: bob@example.org.");
        assertEquals("Mail <EMAIL_1> and <EMAIL_2>, then <EMAIL_1> again.", first);
        assertEquals("Later: <EMAIL_2>.", second, "the numbering holds across the conversation's texts");
        assertEquals(Map.of("<EMAIL_1>", "ann@example.com", "<EMAIL_2>", "bob@example.org"), pseudonyms.values());
        assertEquals(Map.of("email", 4), pseudonyms.found());
    }

    @Test
    void eachTypeHasItsOwnStemAndNumbering() {
        String text = pseudonyms.replace("Card 4111 1111 1111 1111, key AKIAIOSFODNN7EXAMPLE, IBAN GB82 WEST 1234 5698 7654 32,"
                + " phone +44 20 7946 0958, mail a@b.io");
        assertEquals("Card <CARD_1>, key <AWS_KEY_1>, IBAN <IBAN_1>, phone <PHONE_1>, mail <EMAIL_1>", text);
    }

    @Test
    void numberingSkipsPlaceholdersTheUserWrote() {
        String typed = "My template says <EMAIL_1>, <EMAIL_3> and <EMAIL_999999999>; the real ones are zed@example.com and"
                + " amy@example.com";
        pseudonyms.reserve(typed);
        assertEquals("My template says <EMAIL_1>, <EMAIL_3> and <EMAIL_999999999>; the real ones are <EMAIL_2> and <EMAIL_4>",
                pseudonyms.replace(typed));
        PlaceholderRestorer again = new PlaceholderRestorer(pseudonyms.values(), UnaryOperator.identity());
        assertEquals("<EMAIL_1> stays; zed@example.com and amy@example.com come back",
                again.add("<EMAIL_1> stays; <EMAIL_2> and <EMAIL_4> come back") + again.flush());
    }

    @Test
    void aTextWithoutPersonalDataIsLeftAlone() {
        assertEquals("Order 12345 shipped on 2024-05-01.", pseudonyms.replace("Order 12345 shipped on 2024-05-01."));
        assertFalse(pseudonyms.any());
        assertTrue(pseudonyms.values().isEmpty());
    }
}
