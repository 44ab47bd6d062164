package io.spillway.server.http;

import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns aggregated requests into {@link Exchange}s, one at a time per connection: pipelined
 * requests wait in order, so responses leave in the order requests came. Also closes idle
 * keep-alive connections and drops clients that stop reading a stream.
 */
final class ApiChannelHandler extends ChannelInboundHandlerAdapter {

    private static final Logger LOG = LoggerFactory.getLogger(ApiChannelHandler.class);
    private static final Pattern SAFE_ID = Pattern.compile("[A-Za-z0-9._:-]{1,64}");

    private final Router router;
    private final ErrorRenderer errors;
    private final Executor workers;
    private final long slowReaderNanos;
    private final RequestReadTimeout readTimeout;
    private final Deque<FullHttpRequest> pending = new ArrayDeque<>();
    private Exchange current;
    private ScheduledFuture<?> slowReader;

    private final Drain drain;

    ApiChannelHandler(Router router, ErrorRenderer errors, Executor workers, long slowReaderNanos, RequestReadTimeout readTimeout,
                      Drain drain) {
        this.drain = drain;
        this.router = router;
        this.errors = errors;
        this.workers = workers;
        this.slowReaderNanos = slowReaderNanos;
        this.readTimeout = readTimeout;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof FullHttpRequest request)) {
            io.netty.util.ReferenceCountUtil.release(msg);
            return;
        }
        readTimeout.requestReceived();
        if (current != null) {
            pending.add(request);
            return;
        }
        start(ctx, request);
    }

    private void start(ChannelHandlerContext ctx, FullHttpRequest request) {
        try {
            String id = request.headers().get("x-request-id");
            if (id == null || !SAFE_ID.matcher(id).matches()) {
                id = UUID.randomUUID().toString();
            }
            boolean keepAlive = HttpUtil.isKeepAlive(request) && request.decoderResult().isSuccess();
            String target = originForm(request.uri());
            int q = target.indexOf('?');
            Exchange exchange = new Exchange(ctx.channel(), request.method().name(), q < 0 ? target : target.substring(0, q),
                    q < 0 ? "" : target.substring(q + 1), request.headers(), ByteBufUtil.getBytes(request.content()), keepAlive, id,
                    () -> ctx.executor().execute(() -> done(ctx)));
            current = exchange;
            if (request.decoderResult().isFailure()) {
                respond(exchange, decoderError(request.decoderResult().cause()));
                return;
            }
            if (drain.draining()) {
                exchange.closeAfterResponse();
                respond(exchange, new HttpError(503, "overloaded", "The server is shutting down. Retry on another replica.", 1));
                return;
            }
            drain.begin();
            exchange.onEnd(drain::end);
            workers.execute(() -> {
                try {
                    router.handle(exchange);
                } catch (RuntimeException | Error e) {
                    LOG.error("request {} {} failed", exchange.method(), exchange.path(), e);
                    respond(exchange, HttpError.of(500, "internal_error", "Internal error: " + e.getClass().getSimpleName()));
                }
            });
        } finally {
            request.release();
        }
    }

    private void respond(Exchange exchange, HttpError error) {
        exchange.respond(error.status(), "application/json", errors.render(error),
                error.retryAfterSeconds() > 0 ? Map.of("Retry-After", Integer.toString(error.retryAfterSeconds())) : Map.of());
    }

    private static HttpError decoderError(Throwable cause) {
        if (cause instanceof TooLongHttpLineException) {
            return HttpError.of(414, "uri_too_long", "The request line is too long.");
        }
        if (cause instanceof TooLongHttpHeaderException || cause instanceof TooLongFrameException) {
            return HttpError.of(431, "headers_too_large", "The request headers are too large.");
        }
        return HttpError.of(400, "bad_request", "Malformed HTTP request: " + (cause == null ? "unknown" : cause.getMessage()));
    }

    /**
     * The target in origin form (path and query): an absolute-form target ({@code http://host/path},
     * which RFC 9112 requires servers to accept) loses its scheme and authority.
     */
    static String originForm(String target) {
        int scheme = target.indexOf("://");
        if (scheme > 0 && target.substring(0, scheme).chars().allMatch(c -> Character.isLetterOrDigit(c) || c == '+' || c == '-' || c == '.')) {
            int slash = target.indexOf('/', scheme + 3);
            int query = target.indexOf('?', scheme + 3);
            if (slash < 0 || (query >= 0 && query < slash)) {
                return "/" + (query < 0 ? "" : target.substring(query));
            }
            return target.substring(slash);
        }
        return target;
    }

    private void done(ChannelHandlerContext ctx) {
        current = null;
        cancelSlowReader();
        FullHttpRequest next = pending.poll();
        if (next != null && ctx.channel().isActive()) {
            start(ctx, next);
        } else if (next != null) {
            next.release();
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancelSlowReader();
        if (current != null) {
            current.connectionClosed();
        }
        FullHttpRequest r;
        while ((r = pending.poll()) != null) {
            r.release();
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        // A reader that stops consuming a stream is dropped after a grace period, cancelling its
        // request: the server never buffers an unread stream for ever.
        if (!ctx.channel().isWritable() && slowReader == null) {
            slowReader = ctx.executor().schedule(() -> {
                if (!ctx.channel().isWritable()) {
                    LOG.info("closing a connection that stopped reading its response");
                    ctx.close();
                }
            }, slowReaderNanos, TimeUnit.NANOSECONDS);
        } else if (ctx.channel().isWritable()) {
            cancelSlowReader();
        }
        if (current != null) {
            current.writabilityChanged();
        }
        ctx.fireChannelWritabilityChanged();
    }

    private void cancelSlowReader() {
        if (slowReader != null) {
            slowReader.cancel(false);
            slowReader = null;
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof IdleStateEvent && current == null) {
            ctx.close();
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (!(cause instanceof java.io.IOException)) {
            LOG.debug("connection error", cause);
        }
        ctx.close();
    }
}
