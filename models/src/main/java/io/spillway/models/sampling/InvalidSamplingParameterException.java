package io.spillway.models.sampling;

/** A sampling parameter out of range; {@link #parameter()} names it as the OpenAI API does. */
public final class InvalidSamplingParameterException extends IllegalArgumentException {

    private final String parameter;

    public InvalidSamplingParameterException(String parameter, String message) {
        super(message);
        this.parameter = parameter;
    }

    public String parameter() {
        return parameter;
    }
}
