package io.spillway.server.platform;

import io.spillway.server.config.ConfigException;
import io.spillway.server.config.ServerConfig;
import io.spillway.server.embeddings.EmbeddingService;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.server.generation.Generator;
import io.spillway.server.platform.audit.AuditLog;
import io.spillway.server.platform.audit.AuditStage;
import io.spillway.server.platform.cache.CacheStage;
import io.spillway.server.platform.cache.ResponseCache;
import io.spillway.server.platform.cache.SemanticCache;
import io.spillway.server.platform.keys.Database;
import io.spillway.server.platform.keys.KeyStore;
import io.spillway.server.platform.limits.AdmissionStage;
import io.spillway.server.platform.limits.RateLimiter;
import io.spillway.server.platform.limits.SharedRateLimiter;
import io.spillway.server.platform.limits.WindowLimits;
import io.spillway.server.store.SharedCatalog;
import io.spillway.vectors.StorageOptions;
import io.spillway.server.platform.limits.SpendLedger;
import io.spillway.server.platform.safety.Blocklist;
import io.spillway.server.platform.safety.ContentClassifier;
import io.spillway.server.platform.safety.PiiType;
import io.spillway.server.platform.safety.SafetyAction;
import io.spillway.server.platform.safety.SafetyPolicy;
import io.spillway.server.platform.safety.SafetyStage;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The platform around generation, built from configuration: each part is a stage around the
 * generator, in the order of our design notes' request path (audit outermost, so it sees every
 * outcome; then the caller's limits and budget; the safety filters; the caches). Owns what must
 * be closed: the database, the audit log, the semantic index.
 */
public final class PlatformServices implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(PlatformServices.class);

    private final Database database;
    private final Optional<AuditLog> audit;
    private final Optional<SemanticCache> semantic;
    private final KeyStore keys;
    private final Optional<ResponseCache> cache;
    private final boolean dedup;
    private final SafetyPolicy safety;
    private final Blocklist blocklist;
    private final Optional<ContentClassifier> classifier;
    private final WindowLimits limiter;
    private final SpendLedger ledger;
    private final Clock clock;
    private final Optional<SharedCatalog> shared;

    private PlatformServices(Database database, Optional<AuditLog> audit, Optional<SemanticCache> semantic, KeyStore keys,
                             Optional<ResponseCache> cache, boolean dedup, SafetyPolicy safety, Blocklist blocklist,
                             Optional<ContentClassifier> classifier, WindowLimits limiter, SpendLedger ledger, Clock clock,
                             Optional<SharedCatalog> shared) {
        this.shared = shared;
        this.database = database;
        this.audit = audit;
        this.semantic = semantic;
        this.keys = keys;
        this.cache = cache;
        this.dedup = dedup;
        this.safety = safety;
        this.blocklist = blocklist;
        this.classifier = classifier;
        this.limiter = limiter;
        this.ledger = ledger;
        this.clock = clock;
    }

    public static PlatformServices start(ServerConfig config, Optional<EmbeddingService> embeddings, Clock clock) {
        ServerConfig.Database d = config.database();
        Database db;
        try {
            db = Database.open(d.resolvedUrl(), d.user(), d.password(), Duration.ofMillis(d.connectionTimeoutMs()));
        } catch (RuntimeException e) {
            throw new ConfigException("database: " + e.getMessage(), e);
        }
        Optional<SharedCatalog> shared = Optional.empty();
        try {
            KeyStore keys = new KeyStore(db, clock);
            ServerConfig.Cache c = config.cache();
            ServerConfig.Collections cc = config.collections();
            boolean semanticOn = c.enabled() && c.semanticEnabled() && embeddings.isPresent();
            boolean sharedSemantic = semanticOn && c.sharedSemantic(d);
            if (cc.store().equals("database") || sharedSemantic) {
                if (!d.postgres()) {
                    throw new ConfigException("collections.store database needs database.url on PostgreSQL (replicas follow its change"
                            + " log); on one box, use collections.store embedded");
                }
                shared = Optional.of(SharedCatalog.start(db, new SharedCatalog.Settings(cc.resolvedDataDir().resolve("replica"),
                        new StorageOptions(false, cc.snapshotAfterLogBytes()), Duration.ofMillis(cc.syncIntervalMs()),
                        Duration.ofMillis((long) (cc.logRetentionHours() * 3_600_000)))));
            }
            Optional<ResponseCache> cache = c.enabled()
                    ? Optional.of(new ResponseCache(c.maxBytes(), Duration.ofMillis((long) (c.ttlSeconds() * 1000)))) : Optional.empty();
            Duration ttl = Duration.ofMillis((long) (c.ttlSeconds() * 1000));
            Optional<SemanticCache> semantic = !semanticOn ? Optional.empty() : sharedSemantic
                    ? Optional.of(SemanticCache.shared(embeddings.get(), c.semanticThreshold(), c.semanticMaxEntries(), ttl, shared.get(), clock))
                    : Optional.of(SemanticCache.local(embeddings.get(), c.semanticThreshold(), c.semanticMaxEntries(), ttl, semanticCacheDir(config)));
            ServerConfig.Safety s = config.safety();
            SafetyPolicy policy = new SafetyPolicy(SafetyAction.parse(s.pii()),
                    s.detectedPii(), SafetyAction.parse(s.blocklistAction()),
                    SafetyAction.parse(s.classifierAction()), config.audit().logPrompts());
            Optional<ContentClassifier> classifier = classifier(s.classifier());
            ServerConfig.Audit a = config.audit();
            Optional<AuditLog> audit = a.enabled() ? Optional.of(new AuditLog(a.resolvedDir(), a.maxFileBytes(), a.fsync(), clock))
                    : Optional.empty();
            Duration window = Duration.ofMillis((long) (config.keys().limitWindowSeconds() * 1000));
            boolean sharedLimits = config.keys().sharedLimits(d);
            WindowLimits limiter = sharedLimits ? new SharedRateLimiter(db, window) : new RateLimiter(window);
            boolean dedup = c.enabled() && c.dedup();
            LOG.info("platform: keys and budgets in {}; rate limits {}; response cache {}{}; dedup {}; PII {}; audit {}", db.url(),
                    sharedLimits ? "shared by replicas" : "per replica", cache.isPresent() ? "on" : "off",
                    semantic.isPresent() ? ", semantic cache on (opt-in, similarity >= " + c.semanticThreshold() + ", "
                            + (sharedSemantic ? "shared by replicas" : "per replica") + ")" : "", dedup ? "on" : "off", policy.pii().id(),
                    audit.map(l -> "in " + l.directory()).orElse("off"));
            return new PlatformServices(db, audit, semantic, keys, cache, dedup, policy, new Blocklist(s.blocklist()), classifier,
                    limiter, new SpendLedger(db, clock), clock, shared);
        } catch (java.io.IOException e) {
            shared.ifPresent(SharedCatalog::close);
            db.close();
            throw new ConfigException("collections: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            shared.ifPresent(SharedCatalog::close);
            db.close();
            throw e;
        }
    }

    /**
     * Beside the collections rather than in the system's temporary directory: a killed server then
     * leaves its scratch index where the next start wipes it, not a new directory per kill.
     */
    static java.nio.file.Path semanticCacheDir(ServerConfig config) {
        return config.collections().resolvedDataDir().resolve("semantic-cache");
    }

    private static Optional<ContentClassifier> classifier(String name) {
        if (name.isBlank()) {
            return Optional.empty();
        }
        for (ContentClassifier c : ServiceLoader.load(ContentClassifier.class)) {
            if (c.name().equals(name)) {
                return Optional.of(c);
            }
        }
        throw new ConfigException("safety.classifier: no ContentClassifier named '" + name + "' on the class path");
    }

    /** The shared store's catalog, when collections or the semantic cache are shared through the database. */
    public Optional<SharedCatalog> sharedCatalog() {
        return shared;
    }

    /** The platform's stages around {@code generator}. */
    public Generator around(Generator generator, PrometheusRegistry registry) {
        semantic.ifPresent(sc -> io.prometheus.metrics.core.metrics.GaugeWithCallback.builder().name("spillway_semantic_cache_entries")
                .help("Semantic cache entries this replica can answer from (with a shared cache, every replica's)")
                .callback(cb -> cb.call(sc.size())).register(registry));
        Generator g = new CacheStage(generator, cache, semantic, dedup, registry);
        g = new SafetyStage(g, safety, blocklist, classifier, registry);
        g = new AdmissionStage(g, limiter, Optional.of(ledger), registry);
        if (audit.isPresent()) {
            g = new AuditStage(g, audit.get(), clock, registry);
        }
        return g;
    }

    public KeyStore keys() {
        return keys;
    }

    /** Flushes the audit log, then closes the semantic index, the shared store's indexes and the database. */
    @Override
    public void close() {
        audit.ifPresent(AuditLog::close);
        semantic.ifPresent(SemanticCache::close);
        shared.ifPresent(SharedCatalog::close);
        database.close();
    }
}
