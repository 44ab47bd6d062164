package io.spillway.server.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.spillway.server.api.OpenAiException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One HTTP request and its response. Handlers may answer from any thread: writes are queued to the
 * channel's event loop. Exactly one response is sent; once it is complete the connection moves on
 * to the next (pipelined) request.
 */
public final class Exchange {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Channel channel;
    private final String method;
    private final String path;
    private final String query;
    private final HttpHeaders headers;
    private final byte[] body;
    private volatile boolean keepAlive;
    private final String requestId;
    private final Runnable onComplete;
    private final AtomicBoolean started = new AtomicBoolean();
    private final AtomicBoolean finished = new AtomicBoolean();
    private final List<Runnable> closeListeners = new ArrayList<>();
    private volatile boolean closed;
    private final long arrivalNanos = System.nanoTime();
    private volatile ResponseTap tap;
    private final AtomicBoolean tapEnded = new AtomicBoolean();
    private final java.util.concurrent.ConcurrentLinkedQueue<Runnable> endListeners = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private volatile int status;

    Exchange(Channel channel, String method, String path, String query, HttpHeaders headers, byte[] body, boolean keepAlive,
             String requestId, Runnable onComplete) {
        closeListeners.add(() -> endTap(false));
        this.channel = channel;
        this.method = method;
        this.path = path;
        this.query = query;
        this.headers = headers;
        this.body = body;
        this.keepAlive = keepAlive;
        this.requestId = requestId;
        this.onComplete = onComplete;
    }

    /** When the request had been read in full ({@link System#nanoTime()}): the start of its time to first token. */
    public long arrivalNanos() {
        return arrivalNanos;
    }

    public String method() {
        return method;
    }

    public String path() {
        return path;
    }

    public String query() {
        return query;
    }

    public String header(String name) {
        return headers.get(name);
    }

    public byte[] body() {
        return body;
    }

    /**
     * Routes everything this exchange sends through {@code tap} (set before responding; one tap,
     * composed by its owner).
     */
    public void tap(ResponseTap tap) {
        this.tap = tap;
    }

    /** Ends the connection once this response is sent (the server is going away). */
    void closeAfterResponse() {
        keepAlive = false;
    }

    /** Runs {@code r} once when the exchange is over, whether the response was delivered or the client went away. */
    public void onEnd(Runnable r) {
        endListeners.add(r);
        if (tapEnded.get() && endListeners.remove(r)) {
            r.run();
        }
    }

    private void endTap(boolean delivered) {
        if (!tapEnded.compareAndSet(false, true)) {
            return;
        }
        ResponseTap t = tap;
        if (t != null) {
            t.ended(delivered);
        }
        Runnable r;
        while ((r = endListeners.poll()) != null) {
            r.run();
        }
    }

    /** Tokens a generated response consumed and produced, as its generator reports them. */
    public record Usage(int promptTokens, int completionTokens) {
    }

    private volatile Usage usage;

    /** Reported by whatever generated the response (budgets, rate limits and the audit read it). */
    public void reportUsage(int promptTokens, int completionTokens) {
        this.usage = new Usage(promptTokens, completionTokens);
    }

    /** The reported usage, or null when nothing was generated. */
    public Usage usage() {
        return usage;
    }

    /** A header set with {@link #addResponseHeader}, or null. */
    public String responseHeader(String name) {
        return responseHeaders.get(name);
    }

    /** The status sent (0 until a response started). */
    public int status() {
        return status;
    }

    /** The id echoed in the x-request-id response header (the client's, or a new one). */
    public String requestId() {
        return requestId;
    }

    public EventLoop eventLoop() {
        return channel.eventLoop();
    }

    /** Whether the client is still connected. */
    public boolean open() {
        return !closed && channel.isActive();
    }

    /** Runs {@code r} (on the event loop) if the client disconnects before the response is complete. */
    public void onClose(Runnable r) {
        boolean runNow;
        synchronized (closeListeners) {
            runNow = closed;
            if (!runNow) {
                closeListeners.add(r);
            }
        }
        if (runNow) {
            r.run();
        }
    }

    void connectionClosed() {
        List<Runnable> listeners;
        synchronized (closeListeners) {
            if (closed) {
                return;
            }
            closed = true;
            listeners = List.copyOf(closeListeners);
        }
        if (!finished.get()) {
            listeners.forEach(Runnable::run);
        }
    }

    private final Map<String, String> responseHeaders = new java.util.concurrent.ConcurrentHashMap<>();

    public boolean responded() {
        return started.get();
    }

    public void json(int status, JsonNode node) {
        json(status, node, Map.of());
    }

    public void json(int status, JsonNode node, Map<String, String> extraHeaders) {
        ResponseTap t = tap;
        if (t != null && !started.get()) {
            node = t.body(status, node);
        }
        byte[] bytes;
        try {
            bytes = JSON.writeValueAsBytes(node);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        respond(status, "application/json", bytes, extraHeaders);
    }

    public void error(OpenAiException e) {
        Map<String, String> h = e.retryAfterSeconds() > 0
                ? Map.of("Retry-After", Long.toString((long) Math.ceil(e.retryAfterSeconds()))) : Map.of();
        json(e.status(), e.toJson(), h);
    }

    public void text(int status, String contentType, String text) {
        respond(status, contentType, text.getBytes(StandardCharsets.UTF_8), Map.of());
    }

    public void respond(int status, String contentType, byte[] bytes, Map<String, String> extraHeaders) {
        if (!started.compareAndSet(false, true)) {
            return;
        }
        this.status = status;
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(status),
                Unpooled.wrappedBuffer(bytes));
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
        response.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, bytes.length);
        decorate(response, extraHeaders);
        finish(channel.writeAndFlush(response));
    }

    /** Starts a Server-Sent Events response; the stream must be ended with {@link SseStream#end()}. */
    public SseStream openSse(Map<String, String> extraHeaders) {
        if (!started.compareAndSet(false, true)) {
            throw new IllegalStateException("response already started");
        }
        this.status = 200;
        HttpResponse response = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8");
        response.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-cache");
        response.headers().set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
        decorate(response, extraHeaders);
        channel.writeAndFlush(response);
        return new SseStream();
    }

    /**
     * A header for whatever response this exchange ends up sending (set by layers that decide
     * before the response is built, such as the router's x-spillway-route).
     */
    public void addResponseHeader(String name, String value) {
        responseHeaders.put(name, value);
    }

    private void decorate(HttpResponse response, Map<String, String> extraHeaders) {
        response.headers().set("x-request-id", requestId);
        responseHeaders.forEach((k, v) -> response.headers().set(k, v));
        extraHeaders.forEach((k, v) -> response.headers().set(k, v));
        if (keepAlive) {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
        } else {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        }
    }

    private void finish(io.netty.channel.ChannelFuture last) {
        if (!finished.compareAndSet(false, true)) {
            return;
        }
        if (!keepAlive) {
            last.addListener(ChannelFutureListener.CLOSE);
        }
        last.addListener(f -> {
            endTap(f.isSuccess());
            onComplete.run();
        });
    }

    /** An open Server-Sent Events response. */
    public final class SseStream {

        private SseStream() {
        }

        /** Sends one event: {@code data: <payload>} and a blank line. */
        public void send(String payload) {
            if (finished.get()) {
                return;
            }
            ResponseTap t = tap;
            if (t == null) {
                write(payload);
            } else {
                t.event(payload).forEach(this::write);
            }
        }

        private void write(String payload) {
            byte[] bytes = ("data: " + payload + "\n\n").getBytes(StandardCharsets.UTF_8);
            ByteBuf buf = Unpooled.wrappedBuffer(bytes);
            channel.writeAndFlush(new DefaultHttpContent(buf));
        }

        /** Ends the response. */
        public void end() {
            if (finished.get()) {
                return;
            }
            ResponseTap t = tap;
            if (t != null) {
                t.beforeEnd().forEach(this::write);
            }
            finish(channel.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT));
        }

        public boolean open() {
            return Exchange.this.open();
        }
    }
}
