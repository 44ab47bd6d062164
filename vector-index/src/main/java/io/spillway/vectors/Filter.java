package io.spillway.vectors;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A conjunction of conditions on metadata fields. A record without the field never matches.
 * Numbers compare by value whether stored as integers or decimals.
 */
public record Filter(List<Condition> conditions) {

    public static final Filter NONE = new Filter(List.of());

    public Filter {
        conditions = List.copyOf(conditions);
    }

    public boolean isEmpty() {
        return conditions.isEmpty();
    }

    public boolean matches(Map<String, Object> metadata) {
        for (Condition c : conditions) {
            Object value = metadata.get(c.field());
            if (value == null || !c.test(value)) {
                return false;
            }
        }
        return true;
    }

    public sealed interface Condition permits Equals, In, Range {
        String field();

        boolean test(Object value);
    }

    /** {@code field == value}. */
    public record Equals(String field, Object value) implements Condition {
        public Equals {
            Objects.requireNonNull(field);
            Objects.requireNonNull(value, "equality needs a value");
        }

        @Override
        public boolean test(Object actual) {
            return same(actual, value);
        }
    }

    /** {@code field} is one of {@code values}. */
    public record In(String field, List<Object> values) implements Condition {
        public In {
            Objects.requireNonNull(field);
            values = List.copyOf(values);
        }

        @Override
        public boolean test(Object actual) {
            for (Object v : values) {
                if (same(actual, v)) {
                    return true;
                }
            }
            return false;
        }
    }

    /**
     * A numeric or string range; a null bound is open. Strings compare lexicographically, which
     * suits ISO-8601 dates.
     */
    public record Range(String field, Object lower, boolean lowerInclusive, Object upper, boolean upperInclusive)
            implements Condition {
        public Range {
            Objects.requireNonNull(field);
            if (lower == null && upper == null) {
                throw new IllegalArgumentException("range on '" + field + "' has no bound");
            }
        }

        @Override
        public boolean test(Object actual) {
            if (lower != null) {
                Integer c = compare(actual, lower);
                if (c == null || c < 0 || (c == 0 && !lowerInclusive)) {
                    return false;
                }
            }
            if (upper != null) {
                Integer c = compare(actual, upper);
                return c != null && (c < 0 || (c == 0 && upperInclusive));
            }
            return true;
        }
    }

    private static boolean same(Object a, Object b) {
        if (a instanceof Number x && b instanceof Number y) {
            return Double.compare(x.doubleValue(), y.doubleValue()) == 0;
        }
        return a.equals(b);
    }

    /** Null when the two are not comparable (a string against a number, say). */
    private static Integer compare(Object a, Object b) {
        if (a instanceof Number x && b instanceof Number y) {
            return Double.compare(x.doubleValue(), y.doubleValue());
        }
        if (a instanceof String x && b instanceof String y) {
            return x.compareTo(y);
        }
        return null;
    }
}
