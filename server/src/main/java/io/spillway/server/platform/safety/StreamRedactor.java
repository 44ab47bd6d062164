package io.spillway.server.platform.safety;

import io.spillway.server.generation.RewrittenText;
import java.util.ArrayList;
import java.util.List;

/**
 * Redacts a text that arrives in pieces (a streamed completion) without ever releasing part of a
 * match: it releases text only up to the last point no match can span ({@link PiiDetector#isSafeCut}),
 * so a card number split across chunks is held until it is whole, then replaced. What it holds back is
 * at most the current run of digits, capitals or a word; {@link #flush} releases the rest at the end.
 */
public final class StreamRedactor implements RewrittenText.Rewriter {

    private final TextFilter filter;
    private final StringBuilder pending = new StringBuilder();
    private final List<Finding> findings = new ArrayList<>();

    public StreamRedactor(TextFilter filter) {
        this.filter = filter;
    }

    /**
     * Adds the next piece; returns the text now safe to release (maybe empty), already redacted.
     * Under a policy that only flags, every piece goes out at once and the findings are taken from
     * the whole text at the end: holding a stream back would cost latency for nothing.
     */
    @Override
    public String add(String piece) {
        pending.append(piece);
        if (!filter.rewrites()) {
            return piece;
        }
        int cut = Math.min(pending.length() - 1, pending.length() - filter.holdBack());
        // A complete match (a blocklisted phrase, say) may span a whitespace cut: never cut inside one.
        List<Finding> whole = filter.apply(pending.toString()).findings();
        boolean moved = true;
        while (cut > 0 && moved) {
            while (cut > 0 && !PiiDetector.isSafeCut(pending, cut)) {
                cut--;
            }
            moved = false;
            for (Finding f : whole) {
                if (f.start() < cut && cut < f.end()) {
                    cut = f.start();
                    moved = true;
                }
            }
        }
        if (cut <= 0) {
            return "";
        }
        return release(cut);
    }

    /** Releases everything held back, redacted (the stream ended). */
    @Override
    public String flush() {
        if (!filter.rewrites()) {
            findings.addAll(filter.apply(pending.toString()).findings());
            pending.setLength(0);
            return "";
        }
        return release(pending.length());
    }

    private String release(int upTo) {
        String part = pending.substring(0, upTo);
        pending.delete(0, upTo);
        TextFilter.Result r = filter.apply(part);
        findings.addAll(r.findings());
        return r.text();
    }

    /** What was found so far (types and positions in the released pieces, never values). */
    public List<Finding> findings() {
        return List.copyOf(findings);
    }
}
