package io.spillway.server.wire;

import java.util.Arrays;

/** One prompt of a completions request: text, or token ids of the served model. */
public sealed interface Prompt {

    record Text(String text) implements Prompt {
    }

    record Tokens(int[] ids) implements Prompt {

        public Tokens {
            ids = ids.clone();
        }

        @Override
        public int[] ids() {
            return ids.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Tokens t && Arrays.equals(ids, t.ids);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(ids);
        }

        @Override
        public String toString() {
            return "Tokens" + Arrays.toString(ids);
        }
    }
}
