package io.spillway.server.embeddings;

/**
 * Loads the built-in embedding model from a thread with a small stack and prints "loaded"; run in
 * its own JVM by {@link EmbeddingModelTest}, since a native stack overflow kills the whole process.
 */
public final class LoadOnASmallStack {

    private LoadOnASmallStack() {
    }

    public static void main(String[] args) throws Exception {
        long stackBytes = Long.parseLong(args[0]);
        Thread t = new Thread(null, () -> {
            try (EmbeddingModel model = EmbeddingModel.load(EmbeddingModelSource.builtin(), "cpu")) {
                System.out.println("loaded " + model.dimension());
            } catch (Exception e) {
                e.printStackTrace();
            }
        }, "small-stack", stackBytes);
        t.start();
        t.join();
    }
}
