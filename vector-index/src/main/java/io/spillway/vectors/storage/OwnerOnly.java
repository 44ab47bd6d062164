package io.spillway.vectors.storage;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * Directories and files only their owner may open: what Spillway stores (document text, prompts,
 * keys and spend, audit trails) is nobody else's business on a shared machine. The permissions go
 * in with the create call, so there is no moment at which another user could open the file, and
 * the process umask can only narrow them. File systems without POSIX permissions get their defaults.
 */
public final class OwnerOnly {

    private static final boolean POSIX = FileSystems.getDefault().supportedFileAttributeViews().contains("posix");
    private static final FileAttribute<?>[] DIRECTORY = permissions("rwx------");
    private static final FileAttribute<?>[] FILE = permissions("rw-------");

    private OwnerOnly() {
    }

    private static FileAttribute<?>[] permissions(String posix) {
        return POSIX ? new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString(posix))}
                : new FileAttribute<?>[0];
    }

    /** Creates {@code dir} and any missing parents as 700; existing ones are left as they are. */
    public static Path createDirectories(Path dir) throws IOException {
        return Files.createDirectories(dir, DIRECTORY);
    }

    /** Opens a file, creating it as 600 when {@code options} say so and it does not exist yet. */
    public static FileChannel open(Path file, OpenOption... options) throws IOException {
        return FileChannel.open(file, Set.of(options), FILE);
    }

    /** Creates an empty file as 600 unless it exists. */
    public static void createFileIfMissing(Path file) throws IOException {
        try {
            Files.createFile(file, FILE);
        } catch (FileAlreadyExistsException exists) {
            // An existing file keeps its permissions: widening them may have been the operator's choice.
        }
    }
}
