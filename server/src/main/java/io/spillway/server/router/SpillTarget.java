package io.spillway.server.router;

import io.spillway.server.generation.Generator;

/** Where the spill policy sends what the local engine cannot take in time (Amazon Bedrock). */
public interface SpillTarget extends Generator {

    /** Whether it may be tried now (its circuit breaker is not open). */
    boolean available();

    /** Its typical time to a first token, learnt; 0 until known. */
    double typicalFirstTokenSeconds();
}
