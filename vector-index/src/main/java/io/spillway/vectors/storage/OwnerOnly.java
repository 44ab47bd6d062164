package io.spillway.vectors.storage;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Directories and files only their owner may open: what Spillway stores (document text, prompts,
 * keys and spend, audit trails) is nobody else's business on a shared machine. The permissions go
 * in with the create call, so there is no moment at which another user could open the file, and
 * the process umask can only narrow them. File systems without POSIX permissions get their defaults.
 */
public final class OwnerOnly {

    private static final boolean POSIX = FileSystems.getDefault().supportedFileAttributeViews().contains("posix");
    private static final FileAttribute<?>[] DIRECTORY = POSIX
            ? new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"))}
            : new FileAttribute<?>[0];

    private OwnerOnly() {
    }

    /** Creates {@code dir} and any missing parents as 700; existing ones are left as they are. */
    public static Path createDirectories(Path dir) throws IOException {
        return Files.createDirectories(dir, DIRECTORY);
    }
}
