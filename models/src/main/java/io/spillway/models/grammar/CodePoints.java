package io.spillway.models.grammar;

import java.util.ArrayList;
import java.util.List;

/** An immutable set of Unicode code points as sorted, disjoint, non-adjacent ranges. */
record CodePoints(List<int[]> ranges) {

    static final CodePoints NONE = new CodePoints(List.of());

    CodePoints {
        ranges = List.copyOf(ranges);
    }

    static CodePoints of(int cp) {
        return range(cp, cp);
    }

    static CodePoints range(int lo, int hi) {
        return new CodePoints(List.<int[]>of(new int[] {lo, hi}));
    }

    /** The only code point in the set, or -1. */
    int single() {
        return ranges.size() == 1 && ranges.get(0)[0] == ranges.get(0)[1] ? ranges.get(0)[0] : -1;
    }

    CodePoints union(CodePoints o) {
        List<int[]> all = new ArrayList<>(ranges);
        all.addAll(o.ranges);
        all.sort((a, b) -> Integer.compare(a[0], b[0]));
        List<int[]> out = new ArrayList<>();
        for (int[] r : all) {
            if (!out.isEmpty() && out.get(out.size() - 1)[1] >= r[0] - 1) {
                int[] last = out.get(out.size() - 1);
                out.set(out.size() - 1, new int[] {last[0], Math.max(last[1], r[1])});
            } else {
                out.add(r.clone());
            }
        }
        return new CodePoints(out);
    }

    CodePoints minus(CodePoints o) {
        List<int[]> out = new ArrayList<>();
        for (int[] r : ranges) {
            int lo = r[0];
            int hi = r[1];
            for (int[] x : o.ranges) {
                if (x[1] < lo || x[0] > hi) {
                    continue;
                }
                if (x[0] > lo) {
                    out.add(new int[] {lo, x[0] - 1});
                }
                lo = x[1] + 1;
                if (lo > hi) {
                    break;
                }
            }
            if (lo <= hi) {
                out.add(new int[] {lo, hi});
            }
        }
        return new CodePoints(out);
    }
}
