package io.spillway.server.wire;

import java.util.Optional;

/**
 * How an answer is delivered and looked up, as opposed to what it is: two requests that differ
 * only here get the same answer (so the caches and de-duplication ignore it).
 *
 * @param stream        answer with Server-Sent Events
 * @param includeUsage  stream_options.include_usage: a last chunk with the usage
 * @param semanticCache the request's own opt-in or opt-out of the semantic cache, if it says
 */
public record Delivery(boolean stream, boolean includeUsage, Optional<Boolean> semanticCache) {
}
