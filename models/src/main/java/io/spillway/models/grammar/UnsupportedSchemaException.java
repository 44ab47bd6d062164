package io.spillway.models.grammar;

/** A JSON schema uses something the grammar engine cannot enforce; never silently ignored. */
public final class UnsupportedSchemaException extends IllegalArgumentException {

    private final String keyword;
    private final String pointer;

    public UnsupportedSchemaException(String keyword, String pointer, String detail) {
        super("JSON schema keyword '" + keyword + "' at '" + (pointer.isEmpty() ? "#" : "#" + pointer) + "' is not supported"
                + (detail == null || detail.isEmpty() ? "" : ": " + detail));
        this.keyword = keyword;
        this.pointer = pointer;
    }

    /** The keyword refused, e.g. "allOf" or "pattern" (for an unsupported regex feature). */
    public String keyword() {
        return keyword;
    }

    /** JSON pointer of the schema object holding it ("" for the root). */
    public String pointer() {
        return pointer;
    }
}
