package io.spillway.server.http;

import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.concurrent.ScheduledFuture;
import io.spillway.server.api.OpenAiException;
import java.util.ArrayDeque;
import java.util.Deque;
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
    private final Executor workers;
    private final long slowReaderNanos;
    private final RequestReadTimeout readTimeout;
    private final Deque<FullHttpRequest> pending = new ArrayDeque<>();
    private Exchange current;
    private ScheduledFuture<?> slowReader;

    private final Drain drain;

    ApiChannelHandler(Router router, Executor workers, long slowReaderNanos, RequestReadTimeout readTimeout, Drain drain) {
        this.drain = drain;
        this.router = router;
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
            QueryStringDecoder uri = new QueryStringDecoder(request.uri());
            int q = request.uri().indexOf('?');
            Exchange exchange = new Exchange(ctx.channel(), request.method().name(), uri.path(), q < 0 ? "" : request.uri().substring(q + 1),
                    request.headers(), ByteBufUtil.getBytes(request.content()), keepAlive, id, () -> ctx.executor().execute(() -> done(ctx)));
            current = exchange;
            if (request.decoderResult().isFailure()) {
                Throwable cause = request.decoderResult().cause();
                exchange.error(decoderError(cause));
                return;
            }
            if (drain.draining()) {
                exchange.closeAfterResponse();
                exchange.error(OpenAiException.overloaded("The server is shutting down. Retry on another replica.", 1));
                return;
            }
            drain.begin();
            exchange.onEnd(drain::end);
            workers.execute(() -> {
                try {
                    router.handle(exchange);
                } catch (OpenAiException e) {
                    exchange.error(e);
                } catch (RuntimeException | Error e) {
                    LOG.error("request {} {} failed", exchange.method(), exchange.path(), e);
                    exchange.error(OpenAiException.internal("Internal error: " + e.getClass().getSimpleName()));
                }
            });
        } finally {
            request.release();
        }
    }

    private static OpenAiException decoderError(Throwable cause) {
        if (cause instanceof TooLongHttpLineException) {
            return new OpenAiException(414, "invalid_request_error", "The request line is too long.", null, "uri_too_long", 0);
        }
        if (cause instanceof TooLongHttpHeaderException || cause instanceof TooLongFrameException) {
            return new OpenAiException(431, "invalid_request_error", "The request headers are too large.", null, "headers_too_large", 0);
        }
        return OpenAiException.invalid("Malformed HTTP request: " + (cause == null ? "unknown" : cause.getMessage()), null, "bad_request");
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
