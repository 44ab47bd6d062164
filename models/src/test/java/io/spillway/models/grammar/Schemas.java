package io.spillway.models.grammar;

import java.util.LinkedHashMap;
import java.util.Map;

/** Schemas the grammar tests sample documents from, by name. */
final class Schemas {

    private Schemas() {
    }

    static final String NESTED = """
            {"type": "object", "additionalProperties": false, "required": ["id", "customer", "items", "status"],
             "properties": {
               "id": {"type": "string", "format": "uuid"},
               "customer": {"$ref": "#/$defs/person"},
               "items": {"type": "array", "minItems": 1, "maxItems": 4, "items": {"$ref": "#/$defs/item"}},
               "status": {"enum": ["pending", "shipped", "delivered"]},
               "note": {"type": ["string", "null"], "maxLength": 40},
               "priority": {"type": "integer", "minimum": 1, "maximum": 5}
             },
             "$defs": {
               "person": {"type": "object", "additionalProperties": false, "required": ["name"],
                 "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 30},
                                "email": {"type": "string", "format": "email"},
                                "age": {"type": "integer", "minimum": 0, "maximum": 130}}},
               "item": {"type": "object", "additionalProperties": false, "required": ["sku", "quantity"],
                 "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{3}-\\\\d{4}$"},
                                "quantity": {"type": "integer", "minimum": 1, "maximum": 999},
                                "price": {"type": "number", "minimum": 0, "maximum": 10000}}}
             }}""";

    /** Every schema is bounded, so even a model that always picks the longest token must end. */
    static Map<String, String> bounded() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("nested", NESTED);
        m.put("enums", """
                {"type": "object", "additionalProperties": false, "required": ["color", "size", "mood"],
                 "properties": {"color": {"enum": ["red", "green", "blue", null, 7]},
                                "size": {"type": "string", "enum": ["S", "M", "L"]},
                                "mood": {"const": "héllo wörld ☃ 日本 🎉"}}}""");
        m.put("optional fields", """
                {"type": "object", "additionalProperties": false, "required": ["c"],
                 "properties": {"a": {"type": "boolean"}, "b": {"type": "null"}, "c": {"type": "integer", "minimum": -5, "maximum": 5},
                                "d": {"type": "boolean"}, "e": {"type": "string", "maxLength": 3}}}""");
        m.put("no required", """
                {"type": "object", "additionalProperties": false,
                 "properties": {"a": {"type": "boolean"}, "b": {"type": "boolean"}, "c": {"type": "boolean"}}}""");
        m.put("integer bounds", """
                {"type": "array", "minItems": 3, "maxItems": 6, "items": {"anyOf": [
                  {"type": "integer", "minimum": -1234, "maximum": 987},
                  {"type": "integer", "exclusiveMinimum": 99999, "exclusiveMaximum": 100005},
                  {"type": "integer", "minimum": -10, "exclusiveMaximum": -3}]}}""");
        m.put("number bounds", """
                {"type": "array", "maxItems": 5, "items": {"anyOf": [
                  {"type": "number", "minimum": -2.5, "maximum": 3.75},
                  {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                  {"type": "number", "minimum": -0.5, "maximum": 0}]}}""");
        m.put("string lengths", """
                {"type": "object", "additionalProperties": false, "required": ["short", "exact", "cjk"],
                 "properties": {"short": {"type": "string", "maxLength": 2},
                                "exact": {"type": "string", "minLength": 5, "maxLength": 5},
                                "cjk": {"type": "string", "minLength": 1, "maxLength": 20},
                                "long": {"type": "string", "minLength": 14, "maxLength": 40}}}""");
        m.put("formats", """
                {"type": "object", "additionalProperties": false,
                 "required": ["when", "day", "at", "mail", "id", "host", "ip"],
                 "properties": {"when": {"type": "string", "format": "date-time"}, "day": {"type": "string", "format": "date"},
                                "at": {"type": "string", "format": "time"}, "mail": {"type": "string", "format": "email"},
                                "id": {"type": "string", "format": "uuid"}, "host": {"type": "string", "format": "hostname"},
                                "ip": {"type": "string", "format": "ipv4"}}}""");
        m.put("patterns", """
                {"type": "array", "minItems": 2, "maxItems": 4, "items": {"anyOf": [
                  {"type": "string", "pattern": "^(?:\\\\+1-)?\\\\d{3}-\\\\d{4}$"},
                  {"type": "string", "pattern": "^[a-f0-9]{2,6}(x|y|zz)?$"},
                  {"type": "string", "pattern": "^[^\\\\s\\"\\\\\\\\]{1,3}\\\\.(?:txt|md)$"},
                  {"type": "string", "pattern": "^\\\\w{1,8}?_\\\\W\\\\S$"}]}}""");
        m.put("oneOf disjoint", """
                {"oneOf": [
                  {"type": "object", "additionalProperties": false, "required": ["kind", "r"],
                   "properties": {"kind": {"const": "circle"}, "r": {"type": "integer", "minimum": 1, "maximum": 9}}},
                  {"type": "object", "additionalProperties": false, "required": ["kind", "w", "h"],
                   "properties": {"kind": {"const": "rect"}, "w": {"type": "integer", "minimum": 1, "maximum": 9},
                                  "h": {"type": "integer", "minimum": 1, "maximum": 9}}}]}""");
        m.put("prefixItems", """
                {"type": "array", "prefixItems": [{"type": "boolean"}, {"enum": ["x", "y"]}, {"type": "null"}],
                 "items": false, "minItems": 1}""");
        m.put("recursive tree", """
                {"$ref": "#/$defs/node", "$defs": {"node": {"type": "object", "additionalProperties": false,
                  "required": ["v"], "properties": {"v": {"type": "integer", "minimum": 0, "maximum": 9},
                  "kids": {"type": "array", "maxItems": 2, "items": {"$ref": "#/$defs/node"}}}}}}""");
        m.put("nullable anyOf", """
                {"type": "object", "additionalProperties": false, "required": ["x", "y"],
                 "properties": {"x": {"anyOf": [{"type": "string", "maxLength": 4}, {"type": "null"}]},
                                "y": {"type": ["integer", "boolean"], "minimum": 10, "maximum": 12}}}""");
        m.put("closed empty object", """
                {"type": "object", "additionalProperties": false}""");
        return m;
    }

    /** Schemas with unbounded strings or arrays: only models that eventually close them end. */
    static Map<String, String> unbounded() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("strings", """
                {"type": "object", "required": ["title", "body"], "properties": {"title": {"type": "string"},
                 "body": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}}}""");
        m.put("numbers", """
                {"type": "array", "items": {"type": "number"}}""");
        m.put("open object", """
                {"type": "object"}""");
        m.put("any value", """
                {}""");
        m.put("unanchored pattern", """
                {"type": "string", "pattern": "[a-z]{2}"}""");
        return m;
    }
}
