package io.spillway.models.template;

/**
 * A template that cannot be parsed or that failed while rendering, including a template's own
 * {@code raise_exception(...)} (for example "roles must alternate"), whose message is kept as is.
 */
public final class TemplateException extends RuntimeException {

    private final boolean raisedByTemplate;

    public TemplateException(String message) {
        this(message, false);
    }

    public TemplateException(String message, boolean raisedByTemplate) {
        super(message);
        this.raisedByTemplate = raisedByTemplate;
    }

    /** True when the template itself called raise_exception: the message is meant for the user. */
    public boolean raisedByTemplate() {
        return raisedByTemplate;
    }
}
