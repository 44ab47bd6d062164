package io.spillway.server.http;

import io.netty.buffer.Unpooled;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import java.util.concurrent.TimeUnit;

/**
 * Aggregates a request's body up to a limit; past it, answers 413 in OpenAI's error shape (Netty's
 * own answer has no body). The connection then closes gently: our side stops sending, the rest of
 * the upload is read and discarded for a grace period. Closing at once would reset the connection
 * under a client still writing its body, and it might never read the 413.
 */
final class BodyLimit extends HttpObjectAggregator {

    private final long limit;
    private final ErrorRenderer errors;

    BodyLimit(int limit, ErrorRenderer errors) {
        super(limit);
        this.limit = limit;
        this.errors = errors;
    }

    @Override
    protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
        byte[] body = errors.render(HttpError.of(413, "request_too_large", "Request body too large: the limit is " + limit + " bytes."));
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE,
                Unpooled.wrappedBuffer(body));
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
        response.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
        response.headers().set(HttpHeaderNames.CONNECTION, "close");
        ctx.writeAndFlush(response).addListener(f -> {
            if (ctx.channel() instanceof DuplexChannel duplex) {
                duplex.shutdownOutput();
                ctx.executor().schedule(() -> {
                    ctx.close();
                }, LINGER_SECONDS, TimeUnit.SECONDS);
            } else {
                ctx.close();
            }
        });
    }

    /** How long an oversized upload may keep arriving (and be discarded) after the 413. */
    private static final long LINGER_SECONDS = 10;
}
