package io.spillway.models.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;

/** Comparisons of logit rows and token lists that several model tests make. */
public final class Rows {

    private Rows() {
    }

    /** The index of the largest value; the first one on a tie. */
    public static int argmax(float[] row) {
        int best = 0;
        for (int i = 1; i < row.length; i++) {
            if (row[i] > row[best]) {
                best = i;
            }
        }
        return best;
    }

    /** The largest value minus the second largest: how far a pick is from flipping. */
    public static double topTwoMargin(float[] row) {
        int best = argmax(row);
        double second = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < row.length; i++) {
            if (i != best) {
                second = Math.max(second, row[i]);
            }
        }
        return row[best] - second;
    }

    /** The largest |a[i] - b[i]|; infinite when a pair involves NaN. */
    public static double maxDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            double d = Math.abs(a[i] - b[i]);
            worst = Double.isNaN(d) ? Double.POSITIVE_INFINITY : Math.max(worst, d);
        }
        return worst;
    }

    public static int[] concat(int[]... parts) {
        int[] out = new int[Arrays.stream(parts).mapToInt(p -> p.length).sum()];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
