package io.spillway.vectors;

import com.github.jelmerk.hnswlib.core.ObjectSerializer;
import io.spillway.vectors.storage.RecordCodec;
import java.io.IOException;
import java.io.ObjectInput;
import java.io.ObjectOutput;

/**
 * How the graph writes ids and items into a snapshot: our own compact codec rather than Java
 * serialization of every item.
 */
final class ItemSerializers {

    private ItemSerializers() {
    }

    static final class Ids implements ObjectSerializer<String> {
        private static final long serialVersionUID = 1L;

        @Override
        public void write(String id, ObjectOutput out) throws IOException {
            RecordCodec.writeString(out, id);
        }

        @Override
        public String read(ObjectInput in) throws IOException {
            return RecordCodec.readString(in);
        }
    }

    static final class Items implements ObjectSerializer<StoredItem> {
        private static final long serialVersionUID = 1L;
        private final int dimension;

        Items(int dimension) {
            this.dimension = dimension;
        }

        @Override
        public void write(StoredItem item, ObjectOutput out) throws IOException {
            out.writeLong(item.version());
            RecordCodec.write(out, item.record());
        }

        @Override
        public StoredItem read(ObjectInput in) throws IOException {
            long version = in.readLong();
            return new StoredItem(RecordCodec.read(in, dimension), version);
        }
    }
}
