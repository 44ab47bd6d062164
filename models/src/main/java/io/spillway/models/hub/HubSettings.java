package io.spillway.models.hub;

import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

/**
 * Where and how to reach the Hugging Face Hub, from the Hub's own environment variables, so
 * Spillway shares its cache and settings with every other Hugging Face tool on the machine:
 * {@code HF_ENDPOINT}, {@code HF_HUB_CACHE} (else {@code $HF_HOME/hub}, else
 * {@code ~/.cache/huggingface/hub}), {@code HF_TOKEN} (gated and private models),
 * {@code HF_HUB_OFFLINE} (use only what is cached).
 */
public record HubSettings(String endpoint, Path cacheDir, Optional<String> token, boolean offline) {

    /**
     * Configured values first (empty: not configured), then the environment variables, then the
     * Hub's defaults.
     */
    public static HubSettings resolve(String endpoint, String cacheDir, String token, boolean offline, Map<String, String> env) {
        HubSettings fromEnv = fromEnvironment(env);
        return new HubSettings(notBlank(endpoint) ? endpoint.replaceAll("/+$", "") : fromEnv.endpoint(),
                notBlank(cacheDir) ? Path.of(cacheDir) : fromEnv.cacheDir(),
                notBlank(token) ? Optional.of(token) : fromEnv.token(), offline || fromEnv.offline());
    }

    public static HubSettings fromEnvironment(Map<String, String> env) {
        String endpoint = env.getOrDefault("HF_ENDPOINT", "https://huggingface.co").replaceAll("/+$", "");
        Path cache;
        if (notBlank(env.get("HF_HUB_CACHE"))) {
            cache = Path.of(env.get("HF_HUB_CACHE"));
        } else if (notBlank(env.get("HF_HOME"))) {
            cache = Path.of(env.get("HF_HOME"), "hub");
        } else {
            String xdg = env.get("XDG_CACHE_HOME");
            cache = (notBlank(xdg) ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache")).resolve("huggingface").resolve("hub");
        }
        Optional<String> token = Optional.ofNullable(env.get("HF_TOKEN")).filter(HubSettings::notBlank);
        String offline = env.getOrDefault("HF_HUB_OFFLINE", "");
        return new HubSettings(endpoint, cache, token, offline.equals("1") || offline.equalsIgnoreCase("true") || offline.equalsIgnoreCase("yes"));
    }

    private static boolean notBlank(String s) {
        return s != null && !s.isBlank();
    }
}
