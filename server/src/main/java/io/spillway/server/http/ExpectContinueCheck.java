package io.spillway.server.http;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpUtil;
import java.util.Optional;

/**
 * A client that sends {@code Expect: 100-continue} waits to be asked for its body: it is asked
 * (by the aggregator after this handler) only when its headers pass the router's check, so a
 * caller without a valid key gets its 401 before uploading anything.
 */
final class ExpectContinueCheck extends ChannelInboundHandlerAdapter {

    private final Router router;
    private final ErrorRenderer errors;
    private final RequestReadTimeout readTimeout;
    private final UploadDiscard discard = new UploadDiscard();

    ExpectContinueCheck(Router router, ErrorRenderer errors, RequestReadTimeout readTimeout) {
        this.router = router;
        this.errors = errors;
        this.readTimeout = readTimeout;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (discard.consume(ctx, msg)) {
            return;
        }
        if (msg instanceof HttpRequest request && HttpUtil.is100ContinueExpected(request)) {
            String target = ApiChannelHandler.originForm(request.uri());
            int q = target.indexOf('?');
            Optional<HttpError> refusal = router.refuseBeforeBody(request.method().name(), q < 0 ? target : target.substring(0, q),
                    request.headers()::get);
            if (refusal.isPresent()) {
                discard.answer(ctx, refusal.get(), errors, readTimeout);
                discard.consume(ctx, msg);
                return;
            }
        }
        ctx.fireChannelRead(msg);
    }
}
