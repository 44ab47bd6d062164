package io.spillway.server.platform.audit;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import io.spillway.vectors.storage.OwnerOnly;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The append-only audit trail: JSON lines in {@code audit-YYYY-MM-DD.N.jsonl}, a new file each UTC day
 * and whenever the current one passes its size limit; files are only ever appended to and never
 * rewritten, and every line is linked to the one before it by a hash chain that runs across files
 * and restarts ({@link AuditChain}). Request threads enqueue; one writer thread appends in batches and flushes (and, when
 * configured, syncs) after each batch, so a request never waits on the disk. {@link #close} drains
 * the queue: nothing accepted is lost on shutdown.
 */
public final class AuditLog implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(AuditLog.class);
    private static final ObjectMapper JSON = new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);
    private static final Object STOP = new Object();

    private final Path dir;
    private final long maxFileBytes;
    private final boolean fsync;
    private final Clock clock;
    private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    private final Thread writer;
    private final CompletableFuture<Void> stopped = new CompletableFuture<>();
    private OutputStream out;
    private java.nio.channels.FileChannel channel;
    private Path current;
    private LocalDate day;
    private long written;
    /** The hash the next line follows. */
    private String head;
    /** The newest file holds lines from before the chain: the first chained line opens a new file. */
    private boolean startNewFile;

    public AuditLog(Path dir, long maxFileBytes, boolean fsync, Clock clock) {
        this.dir = dir;
        this.maxFileBytes = maxFileBytes;
        this.fsync = fsync;
        this.clock = clock;
        try {
            OwnerOnly.createDirectories(dir);
            AuditChain.Resumed resumed = AuditChain.resume(dir);
            if (resumed.tornBytesCut() > 0) {
                LOG.error("audit: the newest file in {} ended inside a line (the process stopped while writing it); its {} bytes"
                        + " were cut off so that the trail goes on from the last whole line", dir, resumed.tornBytesCut());
            }
            this.head = resumed.head();
            this.startNewFile = resumed.unchainedTail();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the audit directory " + dir, e);
        }
        this.writer = Thread.ofPlatform().name("spillway-audit").daemon(true).start(this::run);
    }

    public Path directory() {
        return dir;
    }

    /** Queues a record; never blocks. */
    public void append(AuditRecord record) {
        queue.add(record);
    }

    private void run() {
        List<Object> batch = new ArrayList<>();
        try {
            while (true) {
                batch.add(queue.take());
                queue.drainTo(batch, 1023);
                boolean stop = false;
                for (Object o : batch) {
                    if (o == STOP) {
                        stop = true;
                    } else {
                        write((AuditRecord) o);
                    }
                }
                batch.clear();
                flush();
                if (stop) {
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            closeFile();
            stopped.complete(null);
        }
    }

    private void write(AuditRecord r) {
        try {
            AuditChain.Link link = AuditChain.link(JSON.writeValueAsString(r), head);
            byte[] line = (link.line() + "\n").getBytes(StandardCharsets.UTF_8);
            roll(line.length);
            out.write(line);
            written += line.length;
            head = link.hash();
        } catch (IOException e) {
            // The trail must not take the server down, but a gap must be loud.
            LOG.error("audit: could not append request {} to {}", r.requestId(), current, e);
        }
    }

    private void roll(int next) throws IOException {
        LocalDate today = LocalDate.now(clock.withZone(ZoneOffset.UTC));
        if (out != null && !today.isAfter(day) && written + next <= maxFileBytes) {
            return;
        }
        closeFile();
        // Only the newest file is ever appended to, so that the files' order is the chain's: a clock
        // stepped back to an earlier day goes on writing under the newest day.
        List<Path> files = AuditChain.files(dir);
        if (!files.isEmpty()) {
            LocalDate newest = LocalDate.parse(AuditChain.day(files.get(files.size() - 1)));
            today = newest.isAfter(today) ? newest : today;
        }
        day = today;
        int n = 0;
        for (Path f : files) {
            if (AuditChain.day(f).equals(today.toString())) {
                n = Math.max(n, AuditChain.number(f));
            }
        }
        Path candidate = dir.resolve("audit-" + today + "." + n + ".jsonl");
        if (Files.exists(candidate) && Files.size(candidate) > 0 && (startNewFile || Files.size(candidate) + next > maxFileBytes)) {
            candidate = dir.resolve("audit-" + today + "." + (n + 1) + ".jsonl");
        }
        startNewFile = false;
        current = candidate;
        written = Files.exists(candidate) ? Files.size(candidate) : 0;
        channel = OwnerOnly.open(candidate, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        out = new java.io.BufferedOutputStream(java.nio.channels.Channels.newOutputStream(channel), 1 << 16);
    }

    private void flush() {
        if (out == null) {
            return;
        }
        try {
            out.flush();
            if (fsync) {
                channel.force(false);
            }
        } catch (IOException e) {
            LOG.error("audit: could not flush {}", current, e);
        }
    }

    private void closeFile() {
        if (out != null) {
            try {
                out.close();
            } catch (IOException e) {
                LOG.error("audit: could not close {}", current, e);
            }
            out = null;
        }
    }

    /** Writes everything queued, then stops. */
    @Override
    public void close() {
        queue.add(STOP);
        try {
            stopped.get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.error("audit: the writer did not finish within 30 s", e);
        }
    }
}
