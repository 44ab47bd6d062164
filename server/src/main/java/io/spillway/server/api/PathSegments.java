package io.spillway.server.api;

import io.spillway.server.wire.OpenAiException;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A request path split on '/' and each segment percent-decoded once (RFC 3986): an id holding a
 * '/' arrives as one segment, "a%2Fb", and is never decoded twice. '+' stays a '+' in a path.
 */
final class PathSegments {

    private PathSegments() {
    }

    /** The non-empty segments of {@code rawPath}, decoded; a 400 for a malformed escape or bytes that are not UTF-8. */
    static List<String> decode(String rawPath) {
        List<String> out = new ArrayList<>();
        for (String s : rawPath.split("/")) {
            if (!s.isEmpty()) {
                out.add(segment(s));
            }
        }
        return out;
    }

    private static String segment(String s) {
        if (s.indexOf('%') < 0) {
            return s;
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '%') {
                bytes.writeBytes(String.valueOf(c).getBytes(StandardCharsets.UTF_8));
                continue;
            }
            if (i + 2 >= s.length() || Character.digit(s.charAt(i + 1), 16) < 0 || Character.digit(s.charAt(i + 2), 16) < 0) {
                throw malformed(s);
            }
            bytes.write(Character.digit(s.charAt(i + 1), 16) * 16 + Character.digit(s.charAt(i + 2), 16));
            i += 2;
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes.toByteArray())).toString();
        } catch (CharacterCodingException e) {
            throw malformed(s);
        }
    }

    private static OpenAiException malformed(String segment) {
        return OpenAiException.invalid("The request path segment '" + segment + "' is not valid percent-encoded UTF-8.", null,
                "invalid_path");
    }
}
