package io.spillway.server.http;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One HTTP request and its response. Handlers may answer from any thread: writes are queued to the
 * channel's event loop. Exactly one response is sent, whole or as a stream of chunks; once it is
 * complete the connection moves on to the next (pipelined) request.
 */
public final class Exchange {

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
    private final AtomicBoolean ended = new AtomicBoolean();
    private final List<Runnable> closeListeners = new ArrayList<>();
    private final ConcurrentLinkedQueue<Runnable> endListeners = new ConcurrentLinkedQueue<>();
    private volatile boolean closed;
    private final long arrivalNanos = System.nanoTime();
    private volatile int status;
    private volatile Runnable onWritable = () -> {
    };

    Exchange(Channel channel, String method, String path, String query, HttpHeaders headers, byte[] body, boolean keepAlive,
             String requestId, Runnable onComplete) {
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

    /** The request target's path as sent, percent-escapes and all: decode each segment once, after splitting. */
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

    /** The id echoed in the x-request-id response header (the client's, or a new one). */
    public String requestId() {
        return requestId;
    }

    /** The status sent (0 until a response started). */
    public int status() {
        return status;
    }

    public EventLoop eventLoop() {
        return channel.eventLoop();
    }

    /**
     * Whether the connection takes more without piling it up in memory: false once what was sent
     * and not yet read by the client passes the connection's high-water mark.
     */
    public boolean writable() {
        return channel.isWritable();
    }

    /** Runs {@code r} on the event loop whenever the connection becomes writable again. */
    public void onWritable(Runnable r) {
        onWritable = r;
    }

    void writabilityChanged() {
        if (channel.isWritable()) {
            onWritable.run();
        }
    }

    /** Drops the connection (a client that will not read what it asked for). */
    public void closeConnection() {
        channel.close();
    }

    /** Whether the client is still connected. */
    public boolean open() {
        return !closed && channel.isActive();
    }

    /** Ends the connection once this response is sent (the server is going away). */
    void closeAfterResponse() {
        keepAlive = false;
    }

    /** Runs {@code r} once when the exchange is over, whether the response was delivered or the client went away. */
    public void onEnd(Runnable r) {
        endListeners.add(r);
        if (ended.get() && endListeners.remove(r)) {
            r.run();
        }
    }

    private void end() {
        if (!ended.compareAndSet(false, true)) {
            return;
        }
        Runnable r;
        while ((r = endListeners.poll()) != null) {
            r.run();
        }
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
        end();
    }

    /** Sends a whole response; ignored when one was already started. */
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

    /** Starts a streamed (chunked) 200 response; it must be ended with {@link Stream#end()}. */
    public Stream openStream(String contentType, Map<String, String> extraHeaders) {
        if (!started.compareAndSet(false, true)) {
            throw new IllegalStateException("response already started");
        }
        this.status = 200;
        HttpResponse response = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
        response.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-cache");
        response.headers().set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
        decorate(response, extraHeaders);
        channel.writeAndFlush(response);
        return new Stream();
    }

    private void decorate(HttpResponse response, Map<String, String> extraHeaders) {
        response.headers().set("x-request-id", requestId);
        extraHeaders.forEach((k, v) -> response.headers().set(k, v));
        response.headers().set(HttpHeaderNames.CONNECTION, keepAlive ? HttpHeaderValues.KEEP_ALIVE : HttpHeaderValues.CLOSE);
    }

    private void finish(ChannelFuture last) {
        if (!finished.compareAndSet(false, true)) {
            return;
        }
        if (!keepAlive) {
            last.addListener(ChannelFutureListener.CLOSE);
        }
        last.addListener(f -> {
            end();
            onComplete.run();
        });
    }

    /** An open streamed response. */
    public final class Stream {

        private Stream() {
        }

        /** Sends the next piece of the body. */
        public void send(byte[] bytes) {
            if (finished.get()) {
                return;
            }
            channel.writeAndFlush(new DefaultHttpContent(Unpooled.wrappedBuffer(bytes)));
        }

        /** Ends the response. */
        public void end() {
            finish(channel.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT));
        }

        public boolean open() {
            return Exchange.this.open();
        }
    }
}
