"""Where int8's error on stories260K comes from: a float64 NumPy model of Spillway's Llama forward
pass (layer norms folded into the next projection, softmax scale folded into the query rows, fused qkv
and gate-up), with each projection's weights and activations quantized as the int8 path does.

    python3 docs/int8-accuracy.py [/path/to/stories260K]

Prints, per variant, the NLL change of reference.json's greedy ids read token by token (as
Int8Stories260KTest does), the argmax agreement, and KL(float || variant) per token, both on those
positions and on temperature-1 samples of the float model (where a perturbation's first-order
effect on NLL vanishes in expectation, so KL is its systematic cost). Needs only NumPy.
"""
import json
import struct
import sys

import numpy as np

D = (sys.argv[1] if len(sys.argv) > 1 else '/work/shared/models/stories260K').rstrip('/') + '/'
raw = open(D + 'model.safetensors', 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
header = json.loads(raw[8:8 + n])
W = {k: np.frombuffer(raw[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]], dtype=np.float32)
     .reshape(v['shape']).astype(np.float64) for k, v in header.items() if k != '__metadata__'}
cfg = json.load(open(D + 'config.json'))
REF = json.load(open(D + 'reference.json'))['cases']
DIM, H, KV, L = cfg['hidden_size'], cfg['num_attention_heads'], cfg['num_key_value_heads'], cfg['num_hidden_layers']
HD, INTER, EPS = DIM // H, cfg['intermediate_size'], cfg['rms_norm_eps']
INV = 1.0 / cfg['rope_theta'] ** (np.arange(0, HD, 2) / HD)
PROJ = ('qkv', 'o', 'gu', 'down', 'head')


def weights_symmetric(w):
    s = np.maximum(np.abs(w).max(1) / 127, 1e-12)[:, None]
    return np.clip(np.round(w / s), -127, 127) * s


def weights_asymmetric(w):
    lo, hi = np.minimum(w.min(1), 0), np.maximum(w.max(1), 0)
    s = np.maximum((hi - lo) / 255, 1e-12)
    z = np.clip(np.round(-lo / s - 128), -128, 127)
    return ((np.clip(np.round(w / s[:, None]) + z[:, None], -128, 127) - z[:, None]) * s[:, None])


def blocks_of_32(i):  # the last block of a width that is not a multiple of 32 is short (padded with zeros in Java)
    return [(b, min(b + 32, i)) for b in range(0, i, 32)]


def weights_group32(w):  # llama.cpp Q8_0's grid, Spillway's int8_linear: a scale per output and 32 inputs
    out = np.empty_like(w)
    for a, b in blocks_of_32(w.shape[1]):
        s = np.maximum(np.abs(w[:, a:b]).max(1, keepdims=True) / 127, 1e-12)
        out[:, a:b] = np.clip(np.round(w[:, a:b] / s), -127, 127) * s
    return out


def weights_noise(seed, amplitude=1.0):  # uniform error of round-to-nearest's size, another draw
    rng = np.random.default_rng(seed)
    return lambda w: w + amplitude * rng.uniform(-0.5, 0.5, w.shape) * (np.abs(w).max(1) / 127)[:, None]


def uint8(x):  # fbgemm's dynamic quantization of one call's input: one scale, range holding 0
    lo, hi = min(x.min(), 0.0), max(x.max(), 0.0)
    if hi == lo:
        return x
    s = np.float32((hi - lo) / 255)
    z = np.clip(np.round(-lo / s), 0, 255)
    return (np.clip(np.round(x / s) + z, 0, 255) - z) * s


def acts_per_call(x):
    return uint8(x)


def acts_rows_scaled(x):  # the script's int8_project: rows of a multi-row call divided by max |x|
    if len(x) == 1:
        return uint8(x)
    r = np.abs(x).max(1, keepdims=True)
    return uint8(x / r) * r


def acts_blocks(residual):  # int8 per 32 inputs of a row (llama.cpp's Q8_0 activations), and Spillway's residual int8
    def quantize(x):
        out = np.empty_like(x)
        for a, b in blocks_of_32(x.shape[1]):
            g = x[:, a:b]
            m = np.abs(g).max(1, keepdims=True)
            s = np.where(m > 0, m / 127, 1.0)
            c = np.round(g / s)
            f = np.clip(np.round((g - c * s) / s * 254), -127, 127) if residual else 0
            out[:, a:b] = (c + f / 254) * s
        return out
    return quantize


class Model:
    def __init__(self, weights=None, acts=None, only=None):
        def proj(name, w, norm):
            if norm is not None:
                w = w * norm[None, :]
            chosen = only is None or name in only
            return (weights(w) if weights and chosen else w), (acts if chosen else None)
        self.layers = []
        for i in range(L):
            p = f'model.layers.{i}.'
            qkv = np.concatenate([W[p + 'self_attn.q_proj.weight'] / np.sqrt(HD), W[p + 'self_attn.k_proj.weight'],
                                  W[p + 'self_attn.v_proj.weight']])
            gu = np.concatenate([W[p + 'mlp.gate_proj.weight'], W[p + 'mlp.up_proj.weight']])
            self.layers.append(dict(qkv=proj('qkv', qkv, W[p + 'input_layernorm.weight']),
                                    o=proj('o', W[p + 'self_attn.o_proj.weight'], None),
                                    gu=proj('gu', gu, W[p + 'post_attention_layernorm.weight']),
                                    down=proj('down', W[p + 'mlp.down_proj.weight'], None)))
        self.emb = W['model.embed_tokens.weight']
        # The final norm is applied, not folded: the head is the tied embedding table.
        self.head = proj('head', self.emb, None)

    @staticmethod
    def apply(p, x):
        w, a = p
        return (a(x) if a else x) @ w.T

    def step(self, ids, pos, cache):
        """Rows of ids at positions pos, attending over cache (appended to); logits of every row."""
        x = self.emb[ids]
        ang = np.outer(pos, INV)
        cos, sin = np.cos(np.concatenate([ang, ang], -1))[:, None], np.sin(np.concatenate([ang, ang], -1))[:, None]
        rot = lambda t: t * cos + np.concatenate([-t[..., HD // 2:], t[..., :HD // 2]], -1) * sin
        for i, ly in enumerate(self.layers):
            qkv = self.apply(ly['qkv'], x / np.sqrt((x * x).mean(-1, keepdims=True) + EPS))
            q = rot(qkv[:, :H * HD].reshape(-1, H, HD))
            k = rot(qkv[:, H * HD:(H + KV) * HD].reshape(-1, KV, HD))
            v = qkv[:, (H + KV) * HD:].reshape(-1, KV, HD)
            cache[i].append((k, v))
            K = np.concatenate([c[0] for c in cache[i]])
            V = np.concatenate([c[1] for c in cache[i]])
            visible = np.arange(len(K))[None, :] <= pos[:, None]
            out = np.zeros((len(ids), H, HD))
            for h in range(H):
                sc = np.where(visible, q[:, h] @ K[:, h // (H // KV)].T, -np.inf)
                pr = np.exp(sc - sc.max(-1, keepdims=True))
                out[:, h] = (pr / pr.sum(-1, keepdims=True)) @ V[:, h // (H // KV)]
            x = x + self.apply(ly['o'], out.reshape(len(ids), -1))
            gu = self.apply(ly['gu'], x / np.sqrt((x * x).mean(-1, keepdims=True) + EPS))
            g, u = gu[:, :INTER], gu[:, INTER:]
            x = x + self.apply(ly['down'], g / (1 + np.exp(-g)) * u)
        return x

    def logits(self, x):
        return self.apply(self.head, x / np.sqrt((x * x).mean(-1, keepdims=True) + EPS) * W['model.norm.weight'])

    def teacher_forced(self, prompt, continuation):
        """As TeacherForcing.logits: the prompt in one prefill, then one decode step per token."""
        cache = [[] for _ in range(L)]
        rows = [self.logits(self.step(np.array(prompt), np.arange(len(prompt)), cache)[-1:])[0]]
        for t, tok in enumerate(continuation[:-1]):
            rows.append(self.logits(self.step(np.array([tok]), np.array([len(prompt) + t]), cache))[0])
        return np.array(rows)

    def prefill_all(self, ids):
        return self.logits(self.step(np.array(ids), np.arange(len(ids)), [[] for _ in range(L)]))


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


FLOAT = Model()
FLOAT_ROWS = [log_softmax(FLOAT.teacher_forced(c['prompt_ids'], c['greedy_ids'])) for c in REF]
FLOAT_NLL = np.mean(np.concatenate([-r[np.arange(len(c['greedy_ids'])), c['greedy_ids']] for r, c in zip(FLOAT_ROWS, REF)]))
rng = np.random.default_rng(7)
SAMPLES = []
for _ in range(24):  # temperature-1 samples of the float model, 96 tokens after BOS
    ids = [1]
    for _ in range(96):
        p = np.exp(log_softmax(FLOAT.prefill_all(ids)[-1]))
        ids.append(int(rng.choice(len(p), p=p / p.sum())))
    SAMPLES.append(ids)
FLOAT_SAMPLES = [log_softmax(FLOAT.prefill_all(ids[:-1])) for ids in SAMPLES]


def report(name, model, sampled_model=None):
    nll, kl, agree, tokens = 0.0, 0.0, 0, 0
    for c, a in zip(REF, FLOAT_ROWS):
        b = log_softmax(model.teacher_forced(c['prompt_ids'], c['greedy_ids']))
        t = np.array(c['greedy_ids'])
        nll -= b[np.arange(len(t)), t].sum()
        kl += (np.exp(a) * (a - b)).sum()
        agree += int((b.argmax(1) == t).sum())
        tokens += len(t)
    # On the samples each row is its own decode step (a one-row call), as in serving token by token.
    m = sampled_model or model
    skl = np.mean([(np.exp(a) * (a - log_softmax(np.array([m.logits(r)[0] for r in rows_of(m, ids)])))).sum(-1).mean()
                   for ids, a in zip(SAMPLES, FLOAT_SAMPLES)])
    print(f'{name:48s} NLL {100 * (nll / tokens - FLOAT_NLL) / FLOAT_NLL:+6.2f} %  argmax {agree}/{tokens}  '
          f'KL {1000 * kl / tokens:6.2f} mnat/token  sampled KL {1000 * skl:6.2f}', flush=True)


def rows_of(model, ids):
    cache = [[] for _ in range(L)]
    return [model.step(np.array([tok]), np.array([i]), cache)[0][None] for i, tok in enumerate(ids[:-1])]


if __name__ == '__main__':
    print(f'float32 NLL per token of the reference ids {FLOAT_NLL:.5f}')
    report('W int8 sym + A uint8 per call (before)', Model(weights_symmetric, acts_per_call))
    report('W int8 sym + A rows scaled', Model(weights_symmetric, acts_rows_scaled))
    report('W int8 asym + A rows scaled (fbgemm)', Model(weights_asymmetric, acts_rows_scaled))
    report('W int8 sym only', Model(weights_symmetric))
    report('W int8 asym only', Model(weights_asymmetric))
    report('W Q8_0 grid only', Model(weights_group32))
    report('W Q8_0 grid + A int8 per 32 (llama.cpp Q8_0)', Model(weights_group32, acts_blocks(False)))
    report('W Q8_0 grid + A int8+residual per 32 (Spillway)', Model(weights_group32, acts_blocks(True)))
    report('A uint8 per call only', Model(None, acts_per_call))
    for name in PROJ:
        report(f'only {name}: W int8 sym + A per call', Model(weights_symmetric, acts_per_call, only={name}))
    for seed in range(6):
        report(f'W uniform noise of int8 size, seed {seed}', Model(weights_noise(seed)))
    for amplitude in (0.5, 0.25):
        report(f'W uniform noise x{amplitude}, seed 0', Model(weights_noise(0, amplitude)))
    # Prefill: every row of a whole continuation in one call.
    for name, model in (('per call', Model(weights_symmetric, acts_per_call)), ('rows scaled', Model(weights_symmetric, acts_rows_scaled)),
                        ('asym + rows scaled', Model(weights_asymmetric, acts_rows_scaled)),
                        ('Spillway int8_linear', Model(weights_group32, acts_blocks(True)))):
        kl, tokens = 0.0, 0
        for c in REF:
            ids = c['prompt_ids'] + c['greedy_ids'][:-1]
            a = log_softmax(FLOAT.prefill_all(ids))[len(c['prompt_ids']) - 1:]
            b = log_softmax(model.prefill_all(ids))[len(c['prompt_ids']) - 1:]
            kl += (np.exp(a) * (a - b)).sum()
            tokens += len(a)
        print(f'whole continuation in one prefill, {name:20s} KL {1000 * kl / tokens:6.2f} mnat/token')
