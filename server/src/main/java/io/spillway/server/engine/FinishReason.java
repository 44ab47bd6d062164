package io.spillway.server.engine;

/** Why a sample ended, in OpenAI's vocabulary where it has a word for it. */
public enum FinishReason {
    /** A stop token, end-of-sequence, or stop string. */
    STOP("stop"),
    /** max_tokens or the model's context length. */
    LENGTH("length"),
    /** Cancelled: the client went away or asked to stop. */
    ABORT("abort"),
    /** The request ran past its time limit. */
    TIMEOUT("timeout"),
    /**
     * Left the waiting queue unstarted, nothing generated, because its queue-wait limit passed:
     * the caller sends it elsewhere (the router spills it to Bedrock). Never shown to clients.
     */
    WITHDRAWN("withdrawn"),
    /** The engine failed while running it. */
    ERROR("error");

    private final String openAi;

    FinishReason(String openAi) {
        this.openAi = openAi;
    }

    public String openAi() {
        return openAi;
    }
}
