package io.spillway.server.engine;

/**
 * The transient bytes of a batch as the scheduler builds it (see {@link StepTransient}): the two
 * attention groups' sizes, longest queries and contexts, and whether another chunk fits under the
 * budget. Not thread-safe: the scheduler's, reset every step.
 */
final class BatchTransient {

    private final StepTransient cost;
    private final long budget;
    private long decodes;
    private long decodeContext;
    private long chunks;
    private long chunkQuery;
    private long chunkContext;

    BatchTransient(StepTransient cost, long budget) {
        this.cost = cost;
        this.budget = budget;
    }

    void clear() {
        decodes = 0;
        decodeContext = 0;
        chunks = 0;
        chunkQuery = 0;
        chunkContext = 0;
    }

    /** The batch's bytes with a chunk of {@code tokens} after {@code computed} ones added. */
    long bytesWith(int computed, int tokens) {
        long context = (long) computed + tokens;
        if (tokens == 1) {
            return cost.group(decodes + 1, 1, Math.max(decodeContext, context)) + cost.group(chunks, chunkQuery, chunkContext);
        }
        return cost.group(decodes, 1, decodeContext)
                + cost.group(chunks + 1, Math.max(chunkQuery, tokens), Math.max(chunkContext, context));
    }

    /**
     * The most of {@code wanted} tokens after {@code computed} that join the batch within the
     * budget, or 0 when not even one does. A chunk's bytes grow with its length, so the largest
     * fitting chunk is found by bisection; one token joins the decodes' group, priced on its own.
     */
    int fit(int computed, int wanted) {
        if (bytesWith(computed, wanted) <= budget) {
            return wanted;
        }
        int low = 1;
        int high = wanted;
        // Invariant: chunks of `high` tokens do not fit; of `low` tokens, unknown when low == 1.
        while (high - low > 1) {
            int mid = low + (high - low) / 2;
            if (bytesWith(computed, mid) <= budget) {
                low = mid;
            } else {
                high = mid;
            }
        }
        if (low > 1) {
            return low;
        }
        return bytesWith(computed, 1) <= budget ? 1 : 0;
    }

    void add(int computed, int tokens) {
        long context = (long) computed + tokens;
        if (tokens == 1) {
            decodes++;
            decodeContext = Math.max(decodeContext, context);
        } else {
            chunks++;
            chunkQuery = Math.max(chunkQuery, tokens);
            chunkContext = Math.max(chunkContext, context);
        }
    }
}
