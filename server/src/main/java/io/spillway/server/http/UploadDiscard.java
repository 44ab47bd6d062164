package io.spillway.server.http;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.TimeUnit;

/**
 * A request answered before its body was read (too large, or refused from its headers): the
 * answer goes out with {@code Connection: close}, our side stops sending, and whatever the
 * client still uploads is read and discarded until the body ends, within a bound in bytes and
 * in time; then the connection closes. Closing while the client still writes would reset the
 * connection, and a client that writes its whole body before reading would lose the answer
 * waiting in its receive buffer.
 */
final class UploadDiscard {

    /** The most an answered upload may still send before the connection closes anyway. */
    private static final long MAX_BYTES = 256L << 20;
    /** How long an answered upload may keep arriving. */
    private static final long MAX_SECONDS = 30;

    private boolean active;
    private long discarded;

    /** Sends the answer and starts discarding the rest of the request. */
    void answer(ChannelHandlerContext ctx, HttpError error, ErrorRenderer errors, RequestReadTimeout readTimeout) {
        active = true;
        // The request is answered: no 408 for the rest of an upload that is only being drained.
        readTimeout.stop();
        byte[] body = errors.render(error);
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(error.status()),
                Unpooled.wrappedBuffer(body));
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
        response.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
        response.headers().set(HttpHeaderNames.CONNECTION, "close");
        ctx.writeAndFlush(response).addListener(f -> {
            if (ctx.channel() instanceof DuplexChannel duplex) {
                duplex.shutdownOutput();
                ctx.executor().schedule(() -> {
                    ctx.close();
                }, MAX_SECONDS, TimeUnit.SECONDS);
            } else {
                ctx.close();
            }
        });
    }

    /** Consumes {@code msg} when the request it belongs to was answered; false when it must go on. */
    boolean consume(ChannelHandlerContext ctx, Object msg) {
        if (!active) {
            return false;
        }
        try {
            if (msg instanceof HttpContent content) {
                discarded += content.content().readableBytes();
            }
            if (msg instanceof LastHttpContent || discarded > MAX_BYTES) {
                ctx.close();
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
        return true;
    }
}
