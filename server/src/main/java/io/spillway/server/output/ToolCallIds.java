package io.spillway.server.output;

import java.security.SecureRandom;

/** Fresh ids for tool calls, in the shape a family's template accepts when the call comes back in the conversation. */
final class ToolCallIds {

    private static final String ALPHANUMERIC = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    private final SecureRandom random = new SecureRandom();
    private final String prefix;
    private final int length;

    /** @param length characters after the prefix (Mistral's template wants exactly 9, no prefix) */
    ToolCallIds(String prefix, int length) {
        this.prefix = prefix;
        this.length = length;
    }

    String next() {
        StringBuilder b = new StringBuilder(prefix);
        for (int i = 0; i < length; i++) {
            b.append(ALPHANUMERIC.charAt(random.nextInt(ALPHANUMERIC.length())));
        }
        return b.toString();
    }
}
