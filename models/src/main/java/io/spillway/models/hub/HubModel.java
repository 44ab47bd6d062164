package io.spillway.models.hub;

import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A model named as on the Hub: {@code org/name} with an optional {@code @revision} (branch, tag or commit). */
public record HubModel(String repo, String revision) {

    private static final Pattern ID = Pattern.compile("([A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)(?:@([A-Za-z0-9._/-]+))?");

    /** The Hub model a {@code --model} value names, or empty when it is not of that form. */
    public static Optional<HubModel> parse(String s) {
        Matcher m = ID.matcher(s);
        if (!m.matches() || s.contains("..")) {
            return Optional.empty();
        }
        return Optional.of(new HubModel(m.group(1), m.group(2) == null ? "main" : m.group(2)));
    }

    /** The cache folder of the repository: {@code models--org--name}. */
    public String cacheFolder() {
        return "models--" + repo.replace("/", "--");
    }

    @Override
    public String toString() {
        return repo + "@" + revision;
    }
}
