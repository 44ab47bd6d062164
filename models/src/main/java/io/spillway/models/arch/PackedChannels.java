package io.spillway.models.arch;

/**
 * Which channels an int4 checkpoint's {@code qweight} packs eight of into each int32, as the
 * script's {@code Int4Unpacker} takes it (its {@code PackedChannels} Enum, checked against this).
 */
public enum PackedChannels {
    /** AWQ: eight output channels of one input row, {@code [in, out / 8]}. */
    OUTPUT,
    /** GPTQ: eight input channels of one output column, {@code [in / 8, out]}. */
    INPUT
}
