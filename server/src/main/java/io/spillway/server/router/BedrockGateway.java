package io.spillway.server.router;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.interceptor.Context;
import software.amazon.awssdk.core.interceptor.ExecutionAttribute;
import software.amazon.awssdk.core.interceptor.ExecutionAttributes;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.http.nio.netty.NettyNioAsyncHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.bedrockruntime.BedrockRuntimeAsyncClient;
import software.amazon.awssdk.services.bedrockruntime.BedrockRuntimeAsyncClientBuilder;
import software.amazon.awssdk.services.bedrockruntime.model.ConverseRequest;
import software.amazon.awssdk.services.bedrockruntime.model.ConverseResponse;
import software.amazon.awssdk.services.bedrockruntime.model.ConverseStreamRequest;
import software.amazon.awssdk.services.bedrockruntime.model.ConverseStreamResponseHandler;

/**
 * Amazon Bedrock's runtime through the AWS SDK v2 async client: Converse and ConverseStream, with
 * the SDK's standard credentials, region and endpoint resolution (so
 * {@code AWS_ENDPOINT_URL_BEDROCK_RUNTIME} or {@code AWS_ENDPOINT_URL} points it elsewhere), an
 * explicit endpoint when configured, our own retries (throttling, 5xx and connection failures,
 * with jittered exponential backoff inside a deadline; never client errors), connect and
 * per-chunk read timeouts, and a circuit breaker that reports Bedrock unavailable after
 * repeated failures.
 */
public final class BedrockGateway implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(BedrockGateway.class);

    public record Settings(Optional<URI> endpoint, Optional<String> region, Duration connectTimeout, Duration chunkTimeout,
                           Duration callTimeout, Backoff backoff, int breakerFailures, Duration breakerOpenFor) {
    }

    /** A failure after retries, or one that must not be retried; {@code status} is Bedrock's HTTP status (0 if none). */
    public static final class BedrockException extends RuntimeException {
        private final int status;
        private final boolean clientError;

        BedrockException(String message, int status, boolean clientError, Throwable cause) {
            super(message, cause);
            this.status = status;
            this.clientError = clientError;
        }

        public int status() {
            return status;
        }

        /** The request itself was wrong (4xx other than throttling): retrying or spilling elsewhere will not help. */
        public boolean clientError() {
            return clientError;
        }
    }

    /** Receives a stream; called on SDK threads, one event at a time. */
    public interface StreamListener {
        /** The subscription started; from now on the call cannot be retried. */
        void onStart();

        ConverseStreamResponseHandler.Visitor visitor();

        void onComplete();

        void onError(BedrockException e);
    }

    /**
     * Set on a request's override configuration to learn the SHA-256 (hex) of the exact body bytes
     * the SDK sends for it (after marshalling, before signing and transmission; a retry sends the same).
     */
    public static final ExecutionAttribute<AtomicReference<String>> SENT_SHA256 = new ExecutionAttribute<>("spillway.sent-sha256");

    private final BedrockRuntimeAsyncClient client;
    private final Settings settings;
    private final CircuitBreaker breaker;

    public BedrockGateway(Settings settings, CircuitBreaker breaker) {
        this.settings = settings;
        this.breaker = breaker;
        BedrockRuntimeAsyncClientBuilder b = BedrockRuntimeAsyncClient.builder()
                .httpClientBuilder(NettyNioAsyncHttpClient.builder()
                        // ConverseStream is plain chunked event-stream over HTTP/1.1; the SDK's HTTP/2
                        // default exists for bidirectional operations Spillway does not use.
                        .protocol(software.amazon.awssdk.http.Protocol.HTTP1_1)
                        .connectionTimeout(settings.connectTimeout())
                        .readTimeout(settings.chunkTimeout())
                        .maxConcurrency(256))
                .overrideConfiguration(o -> o.retryStrategy(AwsRetryStrategy.doNotRetry()).addExecutionInterceptor(new SentBodyDigest()));
        settings.endpoint().ifPresent(b::endpointOverride);
        settings.region().filter(r -> !r.isBlank()).map(Region::of).ifPresent(b::region);
        this.client = b.build();
    }

    /** Whether spilling may try Bedrock now (the breaker is not open). */
    public boolean available() {
        return breaker.state() != CircuitBreaker.State.OPEN;
    }

    /** One Converse call with retries; blocks the calling (virtual) thread. */
    public ConverseResponse converse(ConverseRequest request) {
        if (!breaker.tryAcquire()) {
            throw new BedrockException("Bedrock is unavailable (circuit open after repeated failures)", 503, false, null);
        }
        long deadline = System.nanoTime() + settings.backoff().deadline().toNanos();
        for (int attempt = 1; ; attempt++) {
            try {
                ConverseResponse r = client.converse(request).get(settings.callTimeout().toMillis(), TimeUnit.MILLISECONDS);
                breaker.onSuccess();
                return r;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new BedrockException("interrupted", 0, false, e);
            } catch (ExecutionException | TimeoutException e) {
                Throwable cause = e instanceof ExecutionException ? unwrap(e.getCause()) : e;
                BedrockException failure = classify(cause);
                if (failure.clientError()) {
                    breaker.onSuccess(); // Bedrock answered; the request was at fault
                    throw failure;
                }
                if (!sleepBeforeRetry(attempt, deadline, failure)) {
                    breaker.onFailure();
                    throw failure;
                }
            }
        }
    }

    /**
     * One ConverseStream call. Retries happen only until the stream has started: once a delta may
     * have reached the caller, a failure is reported, not hidden by a replay. Cancelling the
     * returned future stops delivery.
     */
    public CompletableFuture<Void> converseStream(ConverseStreamRequest request, StreamListener listener) {
        if (!breaker.tryAcquire()) {
            return CompletableFuture.failedFuture(new BedrockException("Bedrock is unavailable (circuit open after repeated failures)",
                    503, false, null));
        }
        CompletableFuture<Void> done = new CompletableFuture<>();
        long deadline = System.nanoTime() + settings.backoff().deadline().toNanos();
        attemptStream(request, listener, 1, deadline, done);
        return done;
    }

    private void attemptStream(ConverseStreamRequest request, StreamListener listener, int attempt, long deadline,
                               CompletableFuture<Void> done) {
        AtomicBoolean started = new AtomicBoolean();
        java.util.concurrent.atomic.AtomicReference<org.reactivestreams.Subscription> subscription =
                new java.util.concurrent.atomic.AtomicReference<>();
        ConverseStreamResponseHandler handler = ConverseStreamResponseHandler.builder()
                .onEventStream(publisher -> {
                    started.set(true);
                    listener.onStart();
                    ConverseStreamResponseHandler.Visitor visitor = listener.visitor();
                    publisher.subscribe(new org.reactivestreams.Subscriber<>() {
                        @Override
                        public void onSubscribe(org.reactivestreams.Subscription s) {
                            subscription.set(s);
                            if (done.isCancelled()) {
                                s.cancel();
                            } else {
                                s.request(Long.MAX_VALUE);
                            }
                        }

                        @Override
                        public void onNext(software.amazon.awssdk.services.bedrockruntime.model.ConverseStreamOutput event) {
                            event.accept(visitor);
                        }

                        @Override
                        public void onError(Throwable t) {
                            // Reported through the handler's onError.
                        }

                        @Override
                        public void onComplete() {
                            // Reported through the handler's onComplete.
                        }
                    });
                })
                .onComplete(() -> {
                    breaker.onSuccess();
                    listener.onComplete();
                    done.complete(null);
                })
                .onError(t -> {
                    BedrockException failure = classify(unwrap(t));
                    if (!started.get() && !failure.clientError()) {
                        Thread.ofVirtual().start(() -> {
                            if (sleepBeforeRetry(attempt, deadline, failure)) {
                                attemptStream(request, listener, attempt + 1, deadline, done);
                            } else {
                                breaker.onFailure();
                                listener.onError(failure);
                                done.completeExceptionally(failure);
                            }
                        });
                        return;
                    }
                    if (failure.clientError()) {
                        breaker.onSuccess();
                    } else {
                        breaker.onFailure();
                    }
                    listener.onError(failure);
                    done.completeExceptionally(failure);
                })
                .build();
        CompletableFuture<Void> call = client.converseStream(request, handler);
        // The caller's future cancelled (client gone): stop the event subscription and the SDK call,
        // so nothing more is delivered. The SDK still reads the HTTP response to its end (seen
        // against the fake), so Bedrock bills the whole answer.
        done.whenComplete((ignored, t) -> {
            if (done.isCancelled()) {
                org.reactivestreams.Subscription s = subscription.get();
                if (s != null) {
                    s.cancel();
                }
                call.cancel(true);
            }
        });
    }

    private boolean sleepBeforeRetry(int attempt, long deadline, BedrockException failure) {
        if (attempt >= settings.backoff().maxAttempts()) {
            return false;
        }
        Duration wait = settings.backoff().delay(attempt);
        if (System.nanoTime() + wait.toNanos() >= deadline) {
            return false;
        }
        LOG.debug("bedrock: attempt {} failed ({}); retrying in {} ms", attempt, failure.getMessage(), wait.toMillis());
        try {
            Thread.sleep(wait);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    static BedrockException classify(Throwable t) {
        if (t instanceof BedrockException b) {
            return b;
        }
        if (t instanceof AwsServiceException e) {
            int status = e.statusCode();
            boolean throttled = status == 429 || e.isThrottlingException();
            boolean client = status >= 400 && status < 500 && !throttled && status != 408;
            String code = e.awsErrorDetails() != null ? e.awsErrorDetails().errorCode() : "";
            return new BedrockException("Bedrock answered " + status + " " + code + ": " + e.awsErrorDetails().errorMessage(), status,
                    client, e);
        }
        if (t instanceof SdkClientException || t instanceof TimeoutException || t instanceof java.io.IOException) {
            return new BedrockException("Bedrock unreachable: " + t.getMessage(), 0, false, t);
        }
        return new BedrockException("Bedrock call failed: " + t, 0, false, t);
    }

    @Override
    public void close() {
        client.close();
    }

    /** Hashes each request's body as the SDK is about to transmit it, for requests that ask ({@link #SENT_SHA256}). */
    private static final class SentBodyDigest implements ExecutionInterceptor {
        @Override
        public void beforeTransmission(Context.BeforeTransmission context, ExecutionAttributes attributes) {
            AtomicReference<String> sink = attributes.getAttribute(SENT_SHA256);
            if (sink == null) {
                return;
            }
            MessageDigest sha = sha256();
            if (context.requestBody().isPresent()) {
                try (InputStream in = context.requestBody().get().contentStreamProvider().newStream()) {
                    in.transferTo(new DigestOutputStream(OutputStream.nullOutputStream(), sha));
                } catch (IOException e) {
                    throw new UncheckedIOException("could not read the request body to hash it", e);
                }
            } else if (context.asyncRequestBody().isPresent()) {
                // The marshalled body is a replayable buffer: reading it here leaves it whole for the transmission.
                CompletableFuture<Void> read = new CompletableFuture<>();
                context.asyncRequestBody().get().subscribe(new org.reactivestreams.Subscriber<ByteBuffer>() {
                    @Override
                    public void onSubscribe(org.reactivestreams.Subscription s) {
                        s.request(Long.MAX_VALUE);
                    }

                    @Override
                    public void onNext(ByteBuffer b) {
                        sha.update(b.duplicate());
                    }

                    @Override
                    public void onError(Throwable t) {
                        read.completeExceptionally(t);
                    }

                    @Override
                    public void onComplete() {
                        read.complete(null);
                    }
                });
                read.join();
            } else {
                return;
            }
            sink.set(HexFormat.of().formatHex(sha.digest()));
        }

        private static MessageDigest sha256() {
            try {
                return MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("every JDK has SHA-256", e);
            }
        }
    }
}
