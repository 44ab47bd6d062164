package io.spillway.models.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class StopStringsTest {

    @Test
    void findsTheEarliestStopOnlyNearTheNewText() {
        StopStrings s = new StopStrings(List.of("END", "\n\n"));
        assertEquals(null, s.find("no stop here", 0));
        assertEquals(new StopStrings.Match(5, "END"), s.find("abcdeEND", 6), "a stop straddling old and new text is found");
        assertEquals(new StopStrings.Match(2, "\n\n"), s.find("ab\n\nEND", 3));
    }

    @Test
    void holdsBackOnlyWhatCouldStillBecomeAStop() {
        StopStrings s = new StopStrings(List.of("</answer>"));
        assertEquals(0, s.holdBack("plain text"));
        assertEquals(3, s.holdBack("the result </a"));
        assertEquals(1, s.holdBack("x <"));
        assertEquals(0, new StopStrings(List.of()).holdBack("anything"));
    }
}
