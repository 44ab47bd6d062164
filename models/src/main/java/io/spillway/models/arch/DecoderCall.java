package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.attention.StepAttention;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.runtime.HostStaging;
import io.spillway.models.runtime.ScriptParameter;
import io.spillway.models.runtime.ScriptTypes;
import java.util.ArrayList;
import java.util.List;

/**
 * One step's call of the decoder script's {@code Decoder.forward}: its parameters are this record's
 * components, in this order, followed by the model's {@link DecoderConstants}
 * ({@link #parameters}); {@link DecoderScript} checks the script's declared signature against that
 * list at load. Built and checked by {@link #of}; every tensor belongs to the step.
 *
 * @param ids           int64 {@code [tokens]}: the batch's token ids
 * @param positions     int64 {@code [tokens]}: each token's position in its sequence
 * @param logitRows     int64: the rows that become logits when {@code logitRowsMode} is
 *                      {@link LogitRows#SELECTED}, else empty
 * @param logitRowsMode which rows become logits
 * @param attention     where this step's keys and values go and how each sequence's context is read
 */
public record DecoderCall(NDArray ids, NDArray positions, NDArray logitRows, LogitRows logitRowsMode, StepAttention attention) {

    public DecoderCall {
        Shape rows = ids.getShape();
        if (ids.getDataType() != DataType.INT64 || rows.dimension() != 1 || rows.get(0) < 1) {
            throw new IllegalArgumentException("token ids must be int64 [tokens], at least one, not " + ids.getDataType() + " " + rows);
        }
        if (positions.getDataType() != DataType.INT64 || !positions.getShape().equals(rows)) {
            throw new IllegalArgumentException("positions are " + positions.getDataType() + " " + positions.getShape()
                    + ", the token ids int64 " + rows);
        }
        boolean selects = logitRowsMode == LogitRows.SELECTED;
        if (logitRows.getDataType() != DataType.INT64 || logitRows.getShape().dimension() != 1 || (logitRows.size() > 0) != selects) {
            throw new IllegalArgumentException("logit rows are " + logitRows.getDataType() + " " + logitRows.getShape() + " in mode "
                    + logitRowsMode + ": int64 [rows], non-empty exactly when the mode is SELECTED");
        }
        if (attention.tokens() != rows.get(0)) {
            throw new IllegalArgumentException("attention is planned for " + attention.tokens() + " rows, the batch has " + rows.get(0));
        }
    }

    /** {@code Decoder.forward}'s parameters as Java passes them: this record's components, then {@code model}. */
    public static List<ScriptParameter> parameters() {
        List<ScriptParameter> parameters = new ArrayList<>(ScriptTypes.parameters(DecoderCall.class));
        parameters.add(ScriptTypes.parameter("model", DecoderConstants.class));
        return parameters;
    }

    /**
     * The call for {@code batch}, its host arrays checked against the model before anything reaches
     * libtorch (an id outside the vocabulary would otherwise surface as an index error inside the
     * script, naming no token).
     *
     * @param noRows an empty int64 tensor, the logit rows of a call that does not select them
     */
    static DecoderCall of(ForwardBatch batch, StepAttention attention, int vocabSize, int layers, NDArray noRows,
                          HostStaging staging, NDManager step) {
        int tokens = batch.totalTokens();
        long[] ids = batch.tokenIds();
        for (int row = 0; row < tokens; row++) {
            if (ids[row] < 0 || ids[row] >= vocabSize) {
                throw new IllegalArgumentException("token id " + ids[row] + " at row " + row
                        + " is outside the vocabulary of " + vocabSize);
            }
        }
        long[] rows = batch.logitRows();
        for (long row : rows) {
            if (row < 0 || row >= tokens) {
                throw new IllegalArgumentException("logit row " + row + " is outside the batch's " + tokens + " rows");
            }
        }
        if (attention.caches().size() != layers) {
            throw new IllegalArgumentException("attention over " + attention.caches().size() + " layer caches for a model of "
                    + layers + " layers");
        }
        Shape shape = new Shape(tokens);
        LogitRows mode = LogitRows.of(rows, tokens);
        return new DecoderCall(staging.longs(step, ids, tokens, shape), staging.longs(step, batch.positions(), tokens, shape),
                mode == LogitRows.SELECTED ? staging.longs(step, rows, rows.length, new Shape(rows.length)) : noRows, mode, attention);
    }
}
