package io.spillway.server.platform.cache;

import com.fasterxml.jackson.databind.JsonNode;
import io.spillway.server.http.Exchange;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One leader's response, fanned out to identical requests that arrived while it ran: followers get
 * what was already sent, then every later payload as the leader sends it, streaming callers too.
 * A follower that joins after the end is served from the record.
 */
public final class SharedResponse {

    private final List<String> events = new ArrayList<>();
    private final List<Follower> followers = new ArrayList<>();
    private final Map<String, String> headers = new java.util.concurrent.ConcurrentHashMap<>();
    private int status;
    private JsonNode body;
    private boolean streaming;
    private boolean ended;

    private static final class Follower {
        final Exchange ex;
        Exchange.SseStream sse;

        Follower(Exchange ex) {
            this.ex = ex;
        }
    }

    /** Headers the followers' responses carry too (the route taken, say). */
    public void header(String name, String value) {
        if (value != null) {
            headers.put(name, value);
        }
    }

    /** The leader sent a whole body. */
    public synchronized void body(int status, JsonNode body) {
        this.status = status;
        this.body = body;
        for (Follower f : followers) {
            sendBody(f);
        }
    }

    /** The leader sent a streamed payload. */
    public synchronized void event(String payload) {
        streaming = true;
        events.add(payload);
        for (Follower f : followers) {
            ensureOpen(f);
            f.sse.send(payload);
        }
    }

    /** The leader's exchange is over. */
    public synchronized void end() {
        ended = true;
        for (Follower f : followers) {
            finish(f);
        }
        followers.clear();
    }

    /** Serves {@code ex} from this response: what was sent so far now, the rest as it comes. */
    public synchronized void follow(Exchange ex) {
        headers.forEach(ex::addResponseHeader);
        Follower f = new Follower(ex);
        if (body != null) {
            sendBody(f);
            return;
        }
        if (streaming) {
            ensureOpen(f);
            events.forEach(f.sse::send);
        }
        if (ended) {
            finish(f);
        } else {
            followers.add(f);
        }
    }

    private void sendBody(Follower f) {
        f.ex.json(status, body);
    }

    private void ensureOpen(Follower f) {
        if (f.sse == null) {
            headers.forEach(f.ex::addResponseHeader);
            f.sse = f.ex.openSse(Map.of());
        }
    }

    private void finish(Follower f) {
        if (f.sse != null) {
            f.sse.end();
        } else if (body == null) {
            // The leader ended without sending anything (its client went away before the start).
            f.ex.error(io.spillway.server.api.OpenAiException.overloaded("The identical request this one joined was cancelled."
                    + " Retry.", 1));
        }
    }
}
