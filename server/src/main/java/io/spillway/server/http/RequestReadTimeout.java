package io.spillway.server.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A request must arrive in full, headers and body, within a deadline from its first byte: a
 * client trickling headers byte by byte, or sending less body than its Content-Length promised,
 * gets a 408 and the connection closes instead of holding it open.
 *
 * <p>Sits before the HTTP codec, on raw bytes; the API handler reports each complete request.
 */
final class RequestReadTimeout extends ChannelInboundHandlerAdapter {

    private final long timeoutNanos;
    private final ErrorRenderer errors;
    private ChannelHandlerContext ctx;
    private ScheduledFuture<?> deadline;
    private boolean stopped;

    RequestReadTimeout(long timeoutNanos, ErrorRenderer errors) {
        this.timeoutNanos = timeoutNanos;
        this.errors = errors;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (deadline == null && !stopped && msg instanceof ByteBuf buf && buf.isReadable()) {
            deadline = ctx.executor().schedule(this::expire, timeoutNanos, TimeUnit.NANOSECONDS);
        }
        ctx.fireChannelRead(msg);
    }

    /** The connection only drains what is left of a request already answered (called on the event loop). */
    void stop() {
        stopped = true;
        requestReceived();
    }

    /** A whole request was decoded (called on the event loop). */
    void requestReceived() {
        if (deadline != null) {
            deadline.cancel(false);
            deadline = null;
        }
    }

    private void expire() {
        deadline = null;
        if (!ctx.channel().isActive()) {
            return;
        }
        byte[] body = errors.render(HttpError.of(408, "request_timeout", "The request was not received in full in time."));
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.REQUEST_TIMEOUT,
                Unpooled.wrappedBuffer(body));
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
        response.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
        response.headers().set(HttpHeaderNames.CONNECTION, "close");
        // Written from the head of the pipeline, past the codec's decoder state.
        ctx.channel().writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        requestReceived();
        ctx.fireChannelInactive();
    }
}
