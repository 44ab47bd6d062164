package io.spillway.server.http;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.timeout.IdleStateHandler;
import java.time.Duration;
import java.net.InetSocketAddress;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The HTTP/1.1 server: keep-alive, bounded request bodies, a deadline to receive each request,
 * idle-connection and slow-reader timeouts. Event loops only move bytes; request handling runs on
 * virtual threads, so a slow template render or tokenization never stalls other connections.
 */
public final class HttpServer implements AutoCloseable {

    private static final int MAX_INITIAL_LINE = 8192;
    private static final int MAX_HEADER_SIZE = 32768;

    private final EventLoopGroup boss;
    private final EventLoopGroup workers;
    private final ExecutorService handlers;
    private final Channel channel;

    private final Drain drain;

    private HttpServer(EventLoopGroup boss, EventLoopGroup workers, ExecutorService handlers, Channel channel, Drain drain) {
        this.drain = drain;
        this.boss = boss;
        this.workers = workers;
        this.handlers = handlers;
        this.channel = channel;
    }

    /**
     * @param requestReadTimeout a request must arrive in full within this time, or get 408
     * @param idleTimeout        keep-alive connections idle this long are closed
     * @param slowReaderTimeout  a client that reads nothing of its response for this long is dropped
     * @param sendBufferBytes    the kernel's send buffer per connection; 0: the OS's autotuning
     */
    public record Settings(String host, int port, long maxBodyBytes, Duration requestReadTimeout, Duration idleTimeout,
                           Duration slowReaderTimeout, int sendBufferBytes) {
    }

    public static HttpServer start(Settings config, Router router, ErrorRenderer errors) throws InterruptedException {
        EventLoopGroup boss = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        EventLoopGroup workers = new MultiThreadIoEventLoopGroup(NioIoHandler.newFactory());
        ExecutorService handlers = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("spillway-api-", 0).factory());
        Drain drain = new Drain();
        long readTimeout = config.requestReadTimeout().toNanos();
        long idle = config.idleTimeout().toNanos();
        long slowReader = config.slowReaderTimeout().toNanos();
        int maxBody = (int) Math.min(config.maxBodyBytes(), Integer.MAX_VALUE - 1);
        ServerBootstrap b = new ServerBootstrap();
        if (config.sendBufferBytes() > 0) {
            b.childOption(ChannelOption.SO_SNDBUF, config.sendBufferBytes());
        }
        b
                .group(boss, workers)
                .channel(NioServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(64 * 1024, 256 * 1024))
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        RequestReadTimeout timeout = new RequestReadTimeout(readTimeout, errors);
                        ch.pipeline()
                                .addLast("read-timeout", timeout)
                                .addLast("codec", new HttpServerCodec(MAX_INITIAL_LINE, MAX_HEADER_SIZE, 65536))
                                .addLast("idle", new IdleStateHandler(0, 0, idle, TimeUnit.NANOSECONDS))
                                .addLast("expect", new ExpectContinueCheck(router, errors, timeout))
                                .addLast("body", new BodyLimit(maxBody, errors, timeout))
                                .addLast("api", new ApiChannelHandler(router, errors, handlers, slowReader, timeout, drain));
                    }
                });
        Channel channel = b.bind(new InetSocketAddress(config.host(), config.port())).sync().channel();
        return new HttpServer(boss, workers, handlers, channel, drain);
    }

    public int port() {
        return ((InetSocketAddress) channel.localAddress()).getPort();
    }

    /**
     * Stops taking requests (the listener closes; a request on an open connection gets 503 and
     * {@code Connection: close}) and waits up to {@code grace} for those in flight to complete.
     * Returns how many are still running.
     */
    public int drain(java.time.Duration grace) throws InterruptedException {
        drain.start();
        if (channel.isOpen()) {
            stopAccepting();
        }
        return drain.await(grace);
    }

    /** Stops accepting connections (open ones keep being served until {@link #close}). */
    public void stopAccepting() {
        channel.close().syncUninterruptibly();
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
        workers.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        boss.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        handlers.shutdownNow();
    }
}
