package io.spillway.models.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.spillway.models.checkpoint.SafetensorsFile;
import io.spillway.models.checkpoint.TensorInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * An independent float64 decoder forward pass in plain loops: no DJL, no KV cache, no batching.
 * It reads config.json and the raw safetensors bytes itself and recomputes every position from
 * scratch, so it shares nothing with the model under test but the file format's byte layout.
 *
 * <p>Features are detected from the tensors present (q/k/v biases, q/k norms, untied head) and
 * from config.json (RoPE scaling, Mistral's sliding window), exactly as transformers documents them.
 */
public final class ReferenceTransformer {

    private final int hidden;
    private final int heads;
    private final int kvHeads;
    private final int headDim;
    private final int layers;
    private final int vocab;
    private final double eps;
    private final double[] invFreq;
    private final double positionScale;
    private final int window;
    private final Map<String, double[]> w = new HashMap<>();

    public ReferenceTransformer(Path dir) throws IOException {
        JsonNode c = new ObjectMapper().readTree(Files.readString(dir.resolve("config.json")));
        hidden = c.get("hidden_size").asInt();
        heads = c.get("num_attention_heads").asInt();
        kvHeads = c.path("num_key_value_heads").asInt(heads);
        headDim = c.has("head_dim") ? c.get("head_dim").asInt() : hidden / heads;
        layers = c.get("num_hidden_layers").asInt();
        vocab = c.get("vocab_size").asInt();
        eps = c.get("rms_norm_eps").asDouble();
        String arch = c.get("architectures").get(0).asText();
        window = arch.equals("MistralForCausalLM") && c.path("sliding_window").isNumber() ? c.get("sliding_window").asInt() : 0;
        double theta = c.path("rope_theta").asDouble(10000);
        invFreq = new double[headDim / 2];
        for (int i = 0; i < invFreq.length; i++) {
            invFreq[i] = Math.pow(theta, -2.0 * i / headDim);
        }
        JsonNode rs = c.get("rope_scaling");
        double scale = 1;
        if (rs != null && rs.isObject()) {
            String type = rs.has("rope_type") ? rs.get("rope_type").asText() : rs.path("type").asText();
            double factor = rs.get("factor").asDouble();
            if (type.equals("linear")) {
                scale = 1 / factor;
            } else if (type.equals("llama3")) {
                llama3(factor, rs.get("low_freq_factor").asDouble(), rs.get("high_freq_factor").asDouble(),
                        rs.get("original_max_position_embeddings").asDouble());
            } else {
                throw new IllegalArgumentException("reference does not implement rope " + type);
            }
        }
        positionScale = scale;
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".safetensors")).toList()) {
                try (SafetensorsFile st = SafetensorsFile.open(f)) {
                    for (TensorInfo t : st.tensors().values()) {
                        w.put(t.name(), decode(st.map(t.fileOffset(), t.byteLength()), t.rawDtype(), (int) t.elementCount()));
                    }
                }
            }
        }
        if (!w.containsKey("lm_head.weight")) {
            w.put("lm_head.weight", w.get("model.embed_tokens.weight"));
        }
    }

    /** Llama 3.1's rescaling, per its published formula: long wavelengths slowed by factor, a smooth band between. */
    private void llama3(double factor, double low, double high, double original) {
        for (int i = 0; i < invFreq.length; i++) {
            double wavelength = 2 * Math.PI / invFreq[i];
            if (wavelength < original / high) {
                continue;
            }
            if (wavelength > original / low) {
                invFreq[i] /= factor;
            } else {
                double smooth = (original / wavelength - low) / (high - low);
                invFreq[i] = (1 - smooth) * invFreq[i] / factor + smooth * invFreq[i];
            }
        }
    }

    private static double[] decode(ByteBuffer b, String dtype, int n) {
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            out[i] = switch (dtype) {
                case "F32" -> b.getFloat(i * 4);
                case "BF16" -> Float.intBitsToFloat((b.getShort(i * 2) & 0xFFFF) << 16);
                case "F16" -> Float.float16ToFloat(b.getShort(i * 2));
                default -> throw new IllegalArgumentException(dtype);
            };
        }
        return out;
    }

    /** Logits at every position of {@code tokens}: {@code [tokens.length][vocab]}. */
    public double[][] logits(int[] tokens) {
        int n = tokens.length;
        double[][] x = new double[n][];
        double[] embed = w.get("model.embed_tokens.weight");
        for (int t = 0; t < n; t++) {
            x[t] = new double[hidden];
            System.arraycopy(embed, tokens[t] * hidden, x[t], 0, hidden);
        }
        int group = heads / kvHeads;
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".";
            double[][] q = new double[n][];
            double[][] k = new double[n][];
            double[][] v = new double[n][];
            for (int t = 0; t < n; t++) {
                double[] h = rmsNorm(x[t], w.get(p + "input_layernorm.weight"));
                q[t] = linear(p + "self_attn.q_proj", h, heads * headDim);
                k[t] = linear(p + "self_attn.k_proj", h, kvHeads * headDim);
                v[t] = linear(p + "self_attn.v_proj", h, kvHeads * headDim);
                if (w.containsKey(p + "self_attn.q_norm.weight")) {
                    headNorm(q[t], heads, w.get(p + "self_attn.q_norm.weight"));
                    headNorm(k[t], kvHeads, w.get(p + "self_attn.k_norm.weight"));
                }
                rotate(q[t], heads, t);
                rotate(k[t], kvHeads, t);
            }
            for (int t = 0; t < n; t++) {
                double[] attended = new double[heads * headDim];
                for (int hq = 0; hq < heads; hq++) {
                    int kv = hq / group;
                    int from = window > 0 ? Math.max(0, t - window + 1) : 0;
                    double[] scores = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = from; j <= t; j++) {
                        double s = 0;
                        for (int d = 0; d < headDim; d++) {
                            s += q[t][hq * headDim + d] * k[j][kv * headDim + d];
                        }
                        scores[j] = s / Math.sqrt(headDim);
                        max = Math.max(max, scores[j]);
                    }
                    double sum = 0;
                    for (int j = from; j <= t; j++) {
                        scores[j] = Math.exp(scores[j] - max);
                        sum += scores[j];
                    }
                    for (int j = from; j <= t; j++) {
                        for (int d = 0; d < headDim; d++) {
                            attended[hq * headDim + d] += scores[j] / sum * v[j][kv * headDim + d];
                        }
                    }
                }
                double[] o = linear(p + "self_attn.o_proj", attended, hidden);
                for (int i = 0; i < hidden; i++) {
                    x[t][i] += o[i];
                }
                double[] h = rmsNorm(x[t], w.get(p + "post_attention_layernorm.weight"));
                int inter = w.get(p + "mlp.gate_proj.weight").length / hidden;
                double[] gate = linear(p + "mlp.gate_proj", h, inter);
                double[] up = linear(p + "mlp.up_proj", h, inter);
                for (int i = 0; i < inter; i++) {
                    gate[i] = gate[i] / (1 + Math.exp(-gate[i])) * up[i];
                }
                double[] down = linear(p + "mlp.down_proj", gate, hidden);
                for (int i = 0; i < hidden; i++) {
                    x[t][i] += down[i];
                }
            }
        }
        double[][] logits = new double[n][];
        for (int t = 0; t < n; t++) {
            logits[t] = linear("lm_head", rmsNorm(x[t], w.get("model.norm.weight")), vocab);
        }
        return logits;
    }

    /** Greedy continuation of {@code prompt} by full recomputation. */
    public int[] greedy(int[] prompt, int steps) {
        int[] seq = java.util.Arrays.copyOf(prompt, prompt.length + steps);
        for (int s = 0; s < steps; s++) {
            int len = prompt.length + s;
            double[] last = logits(java.util.Arrays.copyOf(seq, len))[len - 1];
            int best = 0;
            for (int i = 1; i < last.length; i++) {
                if (last[i] > last[best]) {
                    best = i;
                }
            }
            seq[len] = best;
        }
        return java.util.Arrays.copyOfRange(seq, prompt.length, seq.length);
    }

    private double[] linear(String prefix, double[] x, int out) {
        double[] weight = w.get(prefix + ".weight");
        double[] bias = w.get(prefix + ".bias");
        int in = x.length;
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            double s = bias == null ? 0 : bias[o];
            for (int i = 0; i < in; i++) {
                s += weight[o * in + i] * x[i];
            }
            y[o] = s;
        }
        return y;
    }

    private double[] rmsNorm(double[] x, double[] weight) {
        double ss = 0;
        for (double v : x) {
            ss += v * v;
        }
        double r = 1 / Math.sqrt(ss / x.length + eps);
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i] * r * weight[i];
        }
        return y;
    }

    private void headNorm(double[] x, int count, double[] weight) {
        for (int h = 0; h < count; h++) {
            double[] head = java.util.Arrays.copyOfRange(x, h * headDim, (h + 1) * headDim);
            System.arraycopy(rmsNorm(head, weight), 0, x, h * headDim, headDim);
        }
    }

    /** Rotate-half RoPE: dimension i pairs with i + headDim/2. */
    private void rotate(double[] x, int count, int position) {
        int half = headDim / 2;
        for (int h = 0; h < count; h++) {
            int base = h * headDim;
            for (int i = 0; i < half; i++) {
                double angle = position * positionScale * invFreq[i];
                double a = x[base + i];
                double b = x[base + i + half];
                x[base + i] = a * Math.cos(angle) - b * Math.sin(angle);
                x[base + i + half] = b * Math.cos(angle) + a * Math.sin(angle);
            }
        }
    }
}
