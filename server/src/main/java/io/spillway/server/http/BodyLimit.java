package io.spillway.server.http;

import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;

/**
 * Aggregates a request's body up to a limit; past it, answers 413 in the API's error shape
 * (Netty's own answer has no body) and drains the rest of the upload ({@link UploadDiscard}).
 */
final class BodyLimit extends HttpObjectAggregator {

    private final long limit;
    private final ErrorRenderer errors;
    private final RequestReadTimeout readTimeout;
    private final UploadDiscard discard = new UploadDiscard();

    BodyLimit(int limit, ErrorRenderer errors, RequestReadTimeout readTimeout) {
        super(limit);
        this.limit = limit;
        this.errors = errors;
        this.readTimeout = readTimeout;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
        if (!discard.consume(ctx, msg)) {
            super.channelRead(ctx, msg);
        }
    }

    @Override
    protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
        discard.answer(ctx, HttpError.of(413, "request_too_large", "Request body too large: the limit is " + limit + " bytes."), errors,
                readTimeout);
    }
}
