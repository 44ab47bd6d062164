package io.spillway.models.grammar;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** One JSON schema to {@link Expr}; the choices it makes are documented on {@link JsonSchemaSupport}. */
final class JsonSchemaLowering {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> ANNOTATIONS = Set.of("title", "description", "default", "examples", "$comment",
            "$schema", "$defs", "definitions");
    private static final Set<String> OBJECT_KEYWORDS = Set.of("properties", "required", "additionalProperties");
    private static final Set<String> ARRAY_KEYWORDS = Set.of("items", "prefixItems", "minItems", "maxItems");
    private static final Set<String> STRING_KEYWORDS = Set.of("minLength", "maxLength", "pattern", "format");
    private static final Set<String> NUMBER_KEYWORDS = Set.of("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum");

    private final Rules rules;
    private final JsonSyntax js;
    private final JsonNode root;
    private final Map<String, Integer> refRules = new HashMap<>();

    JsonSchemaLowering(Rules rules, JsonSyntax js, JsonNode root) {
        this.rules = rules;
        this.js = js;
        this.root = root;
    }

    Expr lower() {
        Expr e = schema(root, "");
        // Definitions nobody refers to are checked too, so check() refuses what compile() would.
        for (String defs : List.of("$defs", "definitions")) {
            JsonNode d = root.path(defs);
            for (Iterator<String> it = d.fieldNames(); it.hasNext(); ) {
                ruleFor("/" + defs + "/" + escape(it.next()));
            }
        }
        return e;
    }

    private Expr schema(JsonNode s, String ptr) {
        if (s.isBoolean()) {
            if (s.asBoolean()) {
                return js.anyValue();
            }
            throw new UnsupportedSchemaException("false", ptr, "a schema that matches nothing cannot be generated");
        }
        if (!s.isObject()) {
            throw new UnsupportedSchemaException("(schema)", ptr, "a schema must be an object or a boolean");
        }
        for (Iterator<String> it = s.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!JsonSchemaSupport.SUPPORTED_KEYWORDS.contains(k)) {
                throw new UnsupportedSchemaException(k, ptr, null);
            }
        }
        if (s.has("$ref")) {
            onlyAnnotationsBeside(s, "$ref", ptr);
            return new Expr.Call(ruleFor(resolve(s.get("$ref"), ptr)));
        }
        for (String k : List.of("anyOf", "oneOf")) {
            if (s.has(k)) {
                onlyAnnotationsBeside(s, k, ptr);
                JsonNode options = s.get(k);
                if (!options.isArray() || options.isEmpty()) {
                    throw new UnsupportedSchemaException(k, ptr, "must be a non-empty array of schemas");
                }
                List<Expr> alts = new ArrayList<>();
                for (int i = 0; i < options.size(); i++) {
                    alts.add(schema(options.get(i), ptr + "/" + k + "/" + i));
                }
                return Expr.alt(alts);
            }
        }
        if (s.has("const")) {
            return value(s.get("const"));
        }
        if (s.has("enum")) {
            JsonNode values = s.get("enum");
            if (!values.isArray() || values.isEmpty()) {
                throw new UnsupportedSchemaException("enum", ptr, "must be a non-empty array");
            }
            List<Expr> alts = new ArrayList<>();
            values.forEach(v -> alts.add(value(v)));
            return Expr.alt(alts);
        }
        List<Expr> alts = new ArrayList<>();
        for (String type : types(s, ptr)) {
            alts.add(typed(type, s, ptr));
        }
        return Expr.alt(alts);
    }

    private Set<String> types(JsonNode s, String ptr) {
        Set<String> types = new LinkedHashSet<>();
        JsonNode type = s.get("type");
        if (type == null) {
            if (has(s, OBJECT_KEYWORDS)) {
                types.add("object");
            }
            if (has(s, ARRAY_KEYWORDS)) {
                types.add("array");
            }
            if (has(s, STRING_KEYWORDS)) {
                types.add("string");
            }
            if (has(s, NUMBER_KEYWORDS)) {
                types.add("number");
            }
            if (types.isEmpty()) {
                types.add("any");
            }
        } else if (type.isTextual()) {
            types.add(type.asText());
        } else if (type.isArray() && !type.isEmpty()) {
            type.forEach(t -> types.add(t.asText()));
        } else {
            throw new UnsupportedSchemaException("type", ptr, "must be a type name or a non-empty array of them");
        }
        return types;
    }

    private Expr typed(String type, JsonNode s, String ptr) {
        return switch (type) {
            case "any" -> js.anyValue();
            case "object" -> object(s, ptr);
            case "array" -> array(s, ptr);
            case "string" -> string(s, ptr);
            case "integer" -> integer(s, ptr);
            case "number" -> number(s, ptr);
            case "boolean" -> Expr.alt(js.token("true"), js.token("false"));
            case "null" -> js.token("null");
            default -> throw new UnsupportedSchemaException("type", ptr, "unknown type '" + type + "'");
        };
    }

    private Expr object(JsonNode s, String ptr) {
        JsonNode props = s.path("properties");
        JsonNode additional = s.get("additionalProperties");
        if (additional != null && !additional.isBoolean()) {
            throw new UnsupportedSchemaException("additionalProperties", ptr, "only true or false, not a schema");
        }
        if (!props.isMissingNode() && !props.isObject()) {
            throw new UnsupportedSchemaException("properties", ptr, "must be an object");
        }
        Set<String> required = new LinkedHashSet<>();
        JsonNode req = s.path("required");
        if (!req.isMissingNode()) {
            if (!req.isArray()) {
                throw new UnsupportedSchemaException("required", ptr, "must be an array of names");
            }
            req.forEach(r -> required.add(r.asText()));
        }
        for (String r : required) {
            if (!props.has(r)) {
                throw new UnsupportedSchemaException("required", ptr, "required property '" + r
                        + "' is not in properties, and only declared properties are generated");
            }
        }
        if (props.isMissingNode() || props.isEmpty()) {
            if (additional != null && !additional.asBoolean()) {
                return Expr.seq(js.token("{"), js.gap(), js.token("}"));
            }
            return js.anyObject();
        }
        List<Expr> members = new ArrayList<>();
        List<Boolean> isRequired = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = props.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> p = it.next();
            Expr value = schema(p.getValue(), ptr + "/properties/" + escape(p.getKey()));
            members.add(Expr.seq(value(JSON.getNodeFactory().textNode(p.getKey())), js.gap(), js.token(":"), js.gap(), value));
            isRequired.add(required.contains(p.getKey()));
        }
        return Expr.seq(js.token("{"), js.gap(), new Expr.Members(members, isRequired, js.separator(",")), js.gap(),
                js.token("}"));
    }

    private Expr array(JsonNode s, String ptr) {
        List<Expr> prefix = new ArrayList<>();
        JsonNode prefixItems = s.path("prefixItems");
        if (!prefixItems.isMissingNode()) {
            if (!prefixItems.isArray()) {
                throw new UnsupportedSchemaException("prefixItems", ptr, "must be an array of schemas");
            }
            for (int i = 0; i < prefixItems.size(); i++) {
                prefix.add(schema(prefixItems.get(i), ptr + "/prefixItems/" + i));
            }
        }
        JsonNode itemsNode = s.get("items");
        Expr items;
        if (itemsNode == null) {
            items = js.anyValue();
        } else if (itemsNode.isArray()) {
            throw new UnsupportedSchemaException("items", ptr, "an array of schemas (use prefixItems)");
        } else if (itemsNode.isBoolean() && !itemsNode.asBoolean()) {
            items = null;
        } else {
            items = schema(itemsNode, ptr + "/items");
        }
        int min = count(s, "minItems", 0, ptr);
        int max = count(s, "maxItems", Expr.UNBOUNDED, ptr);
        int k = prefix.size();
        if (items == null) {
            max = max == Expr.UNBOUNDED ? k : Math.min(max, k);
        }
        if (max != Expr.UNBOUNDED && min > max) {
            throw new UnsupportedSchemaException("minItems", ptr, "no array has between " + min + " and " + max + " items here");
        }
        Expr sep = js.separator(",");
        Expr elements = elements(prefix, items, 0, min, max, sep);
        return Expr.seq(js.token("["), js.gap(), elements, js.gap(), js.token("]"));
    }

    /** Elements from position j on, given min and max for the whole array. */
    private Expr elements(List<Expr> prefix, Expr items, int j, int min, int max, Expr sep) {
        if (max != Expr.UNBOUNDED && j >= max) {
            return Expr.EMPTY;
        }
        if (j >= prefix.size()) {
            int restMin = Math.max(0, min - j);
            int restMax = max == Expr.UNBOUNDED ? Expr.UNBOUNDED : max - j;
            if (j == 0) {
                return Lowering.separated(rules, items, restMin, restMax, sep);
            }
            return rules.repeat(Expr.seq(sep, items), restMin, restMax);
        }
        Expr item = j == 0 ? prefix.get(0) : Expr.seq(sep, prefix.get(j));
        Expr next = Expr.seq(item, elements(prefix, items, j + 1, min, max, sep));
        return j < min ? next : Expr.opt(next);
    }

    private Expr string(JsonNode s, String ptr) {
        String pattern = s.has("pattern") ? s.get("pattern").asText() : null;
        String format = s.has("format") ? s.get("format").asText() : null;
        if (pattern != null && format != null) {
            throw new UnsupportedSchemaException("format", ptr, "format together with pattern");
        }
        if (pattern != null || format != null) {
            for (String k : List.of("minLength", "maxLength")) {
                if (s.has(k)) {
                    throw new UnsupportedSchemaException(k, ptr, k + " together with " + (pattern != null ? "pattern" : "format"));
                }
            }
            Expr content = pattern != null ? Regex.lower(pattern, ptr, rules) : Formats.lower(format, ptr, rules);
            return Expr.seq(js.token("\""), content, js.token("\""));
        }
        int min = count(s, "minLength", 0, ptr);
        int max = count(s, "maxLength", Expr.UNBOUNDED, ptr);
        if (max != Expr.UNBOUNDED && min > max) {
            throw new UnsupportedSchemaException("minLength", ptr, "minLength above maxLength");
        }
        return js.string(min, max);
    }

    private Expr integer(JsonNode s, String ptr) {
        BigInteger lo = null;
        BigInteger hi = null;
        if (s.has("minimum")) {
            lo = max(lo, decimal(s, "minimum", ptr).setScale(0, RoundingMode.CEILING).toBigIntegerExact());
        }
        if (s.has("exclusiveMinimum")) {
            lo = max(lo, decimal(s, "exclusiveMinimum", ptr).setScale(0, RoundingMode.FLOOR).toBigIntegerExact().add(BigInteger.ONE));
        }
        if (s.has("maximum")) {
            hi = min(hi, decimal(s, "maximum", ptr).setScale(0, RoundingMode.FLOOR).toBigIntegerExact());
        }
        if (s.has("exclusiveMaximum")) {
            hi = min(hi, decimal(s, "exclusiveMaximum", ptr).setScale(0, RoundingMode.CEILING).toBigIntegerExact().subtract(BigInteger.ONE));
        }
        if (lo == null && hi == null) {
            return js.integer();
        }
        Expr e = IntegerRanges.integers(lo, hi);
        if (e.equals(Expr.NOTHING)) {
            throw new UnsupportedSchemaException("minimum", ptr, "no integer lies within the bounds");
        }
        return e;
    }

    /**
     * Sound, not complete: integers within the bounds, and n.ddd (or -n.ddd) only where every
     * fraction keeps the value within them; no exponent.
     */
    private Expr number(JsonNode s, String ptr) {
        if (!has(s, NUMBER_KEYWORDS)) {
            return js.number();
        }
        BigDecimal lower = null;
        boolean lowerExclusive = false;
        BigDecimal upper = null;
        boolean upperExclusive = false;
        if (s.has("minimum")) {
            lower = decimal(s, "minimum", ptr);
        }
        if (s.has("exclusiveMinimum")) {
            BigDecimal x = decimal(s, "exclusiveMinimum", ptr);
            if (lower == null || x.compareTo(lower) >= 0) {
                lower = x;
                lowerExclusive = true;
            }
        }
        if (s.has("maximum")) {
            upper = decimal(s, "maximum", ptr);
        }
        if (s.has("exclusiveMaximum")) {
            BigDecimal x = decimal(s, "exclusiveMaximum", ptr);
            if (upper == null || x.compareTo(upper) <= 0) {
                upper = x;
                upperExclusive = true;
            }
        }
        BigInteger lo = lower == null ? null : lowerExclusive
                ? lower.setScale(0, RoundingMode.FLOOR).toBigIntegerExact().add(BigInteger.ONE)
                : lower.setScale(0, RoundingMode.CEILING).toBigIntegerExact();
        BigInteger hi = upper == null ? null : upperExclusive
                ? upper.setScale(0, RoundingMode.CEILING).toBigIntegerExact().subtract(BigInteger.ONE)
                : upper.setScale(0, RoundingMode.FLOOR).toBigIntegerExact();
        List<Expr> options = new ArrayList<>();
        if (lo == null || hi == null || lo.compareTo(hi) <= 0) {
            options.add(IntegerRanges.integers(lo, hi));
        }
        // n.ddd lies in [n, n + 1): needs n >= lo (as for integers) and n + 1 <= upper.
        BigInteger posLo = lo == null || lo.signum() < 0 ? BigInteger.ZERO : lo;
        BigInteger posHi = upper == null ? null : upper.setScale(0, RoundingMode.FLOOR).toBigIntegerExact().subtract(BigInteger.ONE);
        if (posHi == null || posHi.compareTo(posLo) >= 0) {
            options.add(Expr.seq(IntegerRanges.magnitudes(posLo, posHi), js.token("."), js.fractionDigits()));
        }
        // -m.ddd lies in (-(m + 1), -m]: needs -(m + 1) >= lower and -m <= upper (< when exclusive).
        BigInteger negLo = upper == null || upper.signum() > 0 ? BigInteger.ZERO : upperExclusive
                ? upper.negate().setScale(0, RoundingMode.FLOOR).toBigIntegerExact().add(BigInteger.ONE)
                : upper.negate().setScale(0, RoundingMode.CEILING).toBigIntegerExact();
        if (upper != null && upper.signum() == 0 && upperExclusive) {
            negLo = BigInteger.ONE; // -0.ddd may be 0; the non-zero case is added below
        }
        BigInteger negHi = lower == null ? null : lower.negate().setScale(0, RoundingMode.FLOOR).toBigIntegerExact().subtract(BigInteger.ONE);
        if (negHi == null || (negHi.signum() >= 0 && negHi.compareTo(negLo) >= 0)) {
            options.add(Expr.seq(js.token("-"), IntegerRanges.magnitudes(negLo, negHi), js.token("."), js.fractionDigits()));
        }
        // At an integral exclusive bound b, b.ddd (or -b.ddd) with a non-zero fraction lies just inside it.
        if (lowerExclusive && isIntegral(lower) && lower.signum() >= 0 && (upper == null
                || lower.add(BigDecimal.ONE).compareTo(upper) <= 0)) {
            options.add(Expr.seq(IntegerRanges.magnitudes(lower.toBigIntegerExact(), lower.toBigIntegerExact()),
                    js.token("."), nonZeroFraction()));
        }
        if (upperExclusive && isIntegral(upper) && upper.signum() <= 0 && (lower == null
                || upper.subtract(BigDecimal.ONE).compareTo(lower) >= 0)) {
            BigInteger m = upper.negate().toBigIntegerExact();
            options.add(Expr.seq(js.token("-"), IntegerRanges.magnitudes(m, m), js.token("."), nonZeroFraction()));
        }
        Expr e = Expr.alt(options);
        if (e.equals(Expr.NOTHING)) {
            throw new UnsupportedSchemaException("minimum", ptr, "no number this engine writes lies within the bounds");
        }
        return e;
    }

    private static boolean isIntegral(BigDecimal d) {
        return d.stripTrailingZeros().scale() <= 0;
    }

    private Expr nonZeroFraction() {
        return Expr.seq(rules.repeat(JsonSyntax.DIGIT, 0, JsonSyntax.MAX_FRACTION_DIGITS - 1), Expr.range('1', '9'));
    }

    private Expr value(JsonNode v) {
        try {
            return Expr.text(JSON.writeValueAsString(v));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private int ruleFor(String pointer) {
        Integer id = refRules.get(pointer);
        if (id == null) {
            JsonNode target = pointer.isEmpty() ? root : root.at(pointer);
            if (target.isMissingNode()) {
                throw new UnsupportedSchemaException("$ref", pointer, "nothing at #" + pointer);
            }
            id = rules.reserve();
            refRules.put(pointer, id);
            rules.define(id, schema(target, pointer));
        }
        return id;
    }

    private String resolve(JsonNode ref, String ptr) {
        String r = ref.asText();
        if (!r.startsWith("#")) {
            throw new UnsupportedSchemaException("$ref", ptr, "only local references (#/...), not '" + r + "'");
        }
        String pointer = java.net.URLDecoder.decode(r.substring(1).replace("+", "%2B"), java.nio.charset.StandardCharsets.UTF_8);
        if (!pointer.isEmpty() && !pointer.startsWith("/")) {
            throw new UnsupportedSchemaException("$ref", ptr, "anchors ('" + r + "')");
        }
        return pointer;
    }

    private static void onlyAnnotationsBeside(JsonNode s, String keyword, String ptr) {
        for (Iterator<String> it = s.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!k.equals(keyword) && !ANNOTATIONS.contains(k)) {
                throw new UnsupportedSchemaException(k, ptr, "beside " + keyword);
            }
        }
    }

    private static boolean has(JsonNode s, Set<String> keywords) {
        for (String k : keywords) {
            if (s.has(k)) {
                return true;
            }
        }
        return false;
    }

    private static int count(JsonNode s, String keyword, int absent, String ptr) {
        JsonNode n = s.get(keyword);
        if (n == null) {
            return absent;
        }
        if (!n.canConvertToInt() || n.asInt() < 0 || (n.isNumber() && !n.isIntegralNumber() && n.asDouble() != n.asInt())) {
            throw new UnsupportedSchemaException(keyword, ptr, "must be a non-negative integer");
        }
        return n.asInt();
    }

    private static BigDecimal decimal(JsonNode s, String keyword, String ptr) {
        JsonNode n = s.get(keyword);
        if (!n.isNumber()) {
            throw new UnsupportedSchemaException(keyword, ptr, "must be a number (the draft-4 boolean form is not supported)");
        }
        return n.decimalValue();
    }

    private static BigInteger max(BigInteger a, BigInteger b) {
        return a == null ? b : a.max(b);
    }

    private static BigInteger min(BigInteger a, BigInteger b) {
        return a == null ? b : a.min(b);
    }

    private static String escape(String name) {
        return name.replace("~", "~0").replace("/", "~1");
    }
}
