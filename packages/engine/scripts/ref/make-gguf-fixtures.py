#!/usr/bin/env python3
"""Regenerates packages/engine/test/fixtures/gguf/ (tiny GGUF files and float64 goldens).

Versions used for the committed files: Python 3.11, gguf (gguf-py) 0.19.0, transformers 5.18.0,
torch 2.13.0+cpu, numpy 2.4.6, tokenizers 0.23.2, safetensors 0.8.0 (the offline wheel store).

Usage: python3 -m venv .venv
       .venv/bin/pip install torch==2.13.0+cpu numpy safetensors tokenizers transformers==5.18.0 gguf==0.19.0
       .venv/bin/python packages/engine/scripts/ref/make-gguf-fixtures.py

Deterministic (seeded): the same versions give byte-identical .gguf files.

Files, under test/fixtures/gguf/:
  llama-chat-f32.gguf        models/llama-chat-f32 converted at F32 (gpt2 tokenizer, ChatML template)
  llama-q4km-mix.gguf        seeded llama, hidden 256, a Q4_K_M-like mix (Q4_K/Q5_K/Q6_K, Q5_0/Q8_0 where
                             rows are not a multiple of 256), untied, byte-level BPE vocabulary
  llama-legacy-mix.gguf      seeded llama, hidden 64, Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 mixed, tied Q8_0 token_embd,
                             SentencePiece-style `llama` tokenizer metadata
  llama-f16.gguf             seeded llama, F16 matrices, head_dim 24 != 64/4 (attention.key_length)
  qwen2-bias-bf16.gguf       models/qwen2-bias-bf16 converted at BF16 (arch qwen2, q/k/v biases, not permuted)
and for each `<name>.golden.json`.

Conversion follows llama.cpp's convert_hf_to_gguf.py: tensor names token_embd / blk.N.* / output_norm /
output, Q and K rows of arch `llama` permuted to the adjacent-pair RoPE layout (K with n_head_kv), qwen2
left as is, 1-D tensors (norms, biases) F32, metadata keys as the converter writes them. gguf-py quantizes
Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and BF16; Q4_K, Q5_K and Q6_K are quantized here by a simple per-sub-block
min/max (Q4_K, Q5_K) or abs-max (Q6_K) encoder and checked by dequantizing with gguf.quants.dequantize.

Goldens: the seed of a new model is the first of seed, seed+1000, ... whose greedy continuation, computed
on the DEQUANTIZED weights in float64, has >= 8 distinct tokens and a top-1 minus top-2 margin >= 2e-3 at
every step and prompt position (make-fixtures.py's rule). The golden itself is then computed from the
written file by transformers' own GGUF loader (AutoModelForCausalLM.from_pretrained(dir, gguf_file=...),
which dequantizes and reverse-permutes Q/K itself) in float64, with make-fixtures.py's float64 RoPE patch,
a full forward per step. It is cross-checked against the second path (gguf.quants.dequantize + our own
reverse permutation into a float64 HF model); `goldenPath` says which one the recorded ids come from.
"""

import hashlib
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
import transformers
import gguf
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "..", "test", "fixtures")
OUT = os.path.join(FIX, "gguf")
GENERATOR = "packages/engine/scripts/ref/make-gguf-fixtures.py"
GGUF_FIXTURE_VERSION = 1

_spec = importlib.util.spec_from_file_location("make_fixtures", os.path.join(HERE, "make-fixtures.py"))
mf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mf)

GREEDY_TOKENS = 16
MIN_MARGIN = 2e-3


# --- K-quant encoders (any valid encoding; llama.cpp's iterative search is not needed) ---------------


def _f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16)


def _pack_k_scales(sc, mn):
    """sc, mn: [n, 8] in 0..63 -> [n, 12] bytes (inverse of ggml's get_scale_min_k4)."""
    sc = sc.astype(np.uint8)
    mn = mn.astype(np.uint8)
    s = np.zeros((sc.shape[0], 12), dtype=np.uint8)
    s[:, 0:4] = sc[:, 0:4] | ((sc[:, 4:8] >> 4) << 6)
    s[:, 4:8] = mn[:, 0:4] | ((mn[:, 4:8] >> 4) << 6)
    s[:, 8:12] = (sc[:, 4:8] & 15) | ((mn[:, 4:8] & 15) << 4)
    return s


def _k_affine(x, levels):
    """x: [n, 8, 32] -> (d f16 [n], dmin f16 [n], sc [n,8], mn [n,8], q [n,8,32]) with x ~ d*sc*q - dmin*mn."""
    lo = np.minimum(x.min(axis=2), 0.0)
    hi = x.max(axis=2)
    scale = (hi - lo) / levels  # per sub-block step
    minv = -lo  # >= 0
    d = _f16(scale.max(axis=1) / 63.0)
    dmin = _f16(minv.max(axis=1) / 63.0)
    df = d.astype(np.float64)[:, None]
    dmf = dmin.astype(np.float64)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.where(df > 0, np.clip(np.round(scale / df), 0, 63), 0)
        mn = np.where(dmf > 0, np.clip(np.round(minv / dmf), 0, 63), 0)
        step = (df * sc)[:, :, None]
        q = np.where(step > 0, np.round((x + (dmf * mn)[:, :, None]) / step), 0)
    q = np.clip(q, 0, levels).astype(np.uint8)
    return d, dmin, sc.astype(np.uint8), mn.astype(np.uint8), q


def quantize_q4_k(rows):
    x = rows.astype(np.float64).reshape(-1, 8, 32)
    d, dmin, sc, mn, q = _k_affine(x, 15)
    n = x.shape[0]
    qs = np.zeros((n, 128), dtype=np.uint8)
    for s in range(8):
        base = 32 * (s // 2)
        qs[:, base : base + 32] |= q[:, s] << (4 * (s % 2))
    blocks = np.concatenate([d.view(np.uint8).reshape(n, 2), dmin.view(np.uint8).reshape(n, 2), _pack_k_scales(sc, mn), qs], axis=1)
    return blocks.reshape(rows.shape[0], -1)


def quantize_q5_k(rows):
    x = rows.astype(np.float64).reshape(-1, 8, 32)
    d, dmin, sc, mn, q = _k_affine(x, 31)
    n = x.shape[0]
    qs = np.zeros((n, 128), dtype=np.uint8)
    qh = np.zeros((n, 32), dtype=np.uint8)
    for s in range(8):
        base = 32 * (s // 2)
        qs[:, base : base + 32] |= (q[:, s] & 15) << (4 * (s % 2))
        qh |= ((q[:, s] >> 4) & 1) << s
    blocks = np.concatenate([d.view(np.uint8).reshape(n, 2), dmin.view(np.uint8).reshape(n, 2), _pack_k_scales(sc, mn), qh, qs], axis=1)
    return blocks.reshape(rows.shape[0], -1)


def quantize_q6_k(rows):
    x = rows.astype(np.float64).reshape(-1, 16, 16)
    n = x.shape[0]
    amax = np.abs(x).max(axis=2)
    scale = amax / 31.0
    d = _f16(scale.max(axis=1) / 127.0)
    df = d.astype(np.float64)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.where(df > 0, np.clip(np.round(scale / df), 0, 127), 0)
        step = (df * sc)[:, :, None]
        q = np.where(step > 0, np.round(x / step), 0)
    q = (np.clip(q, -32, 31) + 32).astype(np.uint8).reshape(n, 256)
    ql = np.zeros((n, 128), dtype=np.uint8)
    qh = np.zeros((n, 64), dtype=np.uint8)
    for j in range(256):
        h, k = divmod(j, 128)
        t, l = divmod(k, 32)
        ql[:, 64 * h + l + 32 * (t & 1)] |= (q[:, j] & 15) << (0 if t < 2 else 4)
        qh[:, 32 * h + l] |= (q[:, j] >> 4) << (2 * t)
    blocks = np.concatenate([ql, qh, sc.astype(np.int8).view(np.uint8), d.view(np.uint8).reshape(n, 2)], axis=1)
    return blocks.reshape(rows.shape[0], -1)


K_QUANTIZERS = {T.Q4_K: quantize_q4_k, T.Q5_K: quantize_q5_k, T.Q6_K: quantize_q6_k}
QUANT_TOL = {T.Q4_0: 0.12, T.Q4_1: 0.1, T.Q5_0: 0.06, T.Q5_1: 0.05, T.Q8_0: 0.01, T.Q4_K: 0.12, T.Q5_K: 0.06, T.Q6_K: 0.03, T.BF16: 0.005, T.F16: 0.001, T.F32: 0.0}


QUANT_ERR = {}  # gguf name -> max |dequantized - float64 source| / max |source|, for the golden


def encode(hf_tensor, qtype):
    """float64 [out, in] (or 1-D) -> (array to hand GGUFWriter, dequantized float64 values)."""
    x = np.asarray(hf_tensor, dtype=np.float64)
    if qtype == T.F32:
        data = x.astype(np.float32)
        return data, data.astype(np.float64), 0.0
    if qtype == T.F16:
        data = x.astype(np.float16)
        deq = data.astype(np.float64)
        return data, deq, np.abs(deq - x).max() / max(np.abs(x).max(), 1e-30)
    if qtype in K_QUANTIZERS:
        data = K_QUANTIZERS[qtype](x.astype(np.float32))
    else:
        data = gguf.quants.quantize(x.astype(np.float32), qtype)
    deq = gguf.quants.dequantize(data, qtype).astype(np.float64).reshape(x.shape)
    # Every encoding is checked by gguf-py's own dequantizer: the error is small relative to the values.
    rel = np.abs(deq - x).max() / max(np.abs(x).max(), 1e-30)
    assert rel <= QUANT_TOL[qtype], (qtype.name, rel)
    return data, deq, rel


# --- conversion (llama.cpp convert_hf_to_gguf.py conventions) ----------------------------------------


def permute(w, n_head, n_head_kv):
    """LlamaModel.permute: HF rotate-half rows -> adjacent-pair rows (K uses n_head_kv)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


HF_TO_GGUF = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}


def gguf_name(hf):
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    parts = hf.split(".")
    assert parts[0] == "model" and parts[1] == "layers", hf
    mod = ".".join(parts[3:-1])
    return f"blk.{parts[2]}.{HF_TO_GGUF[mod]}.{parts[-1]}"


def hf_order(state, layers):
    names = ["model.embed_tokens.weight"]
    for i in range(layers):
        for mod in HF_TO_GGUF:
            for kind in ("weight", "bias"):
                n = f"model.layers.{i}.{mod}.{kind}"
                if n in state:
                    names.append(n)
    names.append("model.norm.weight")
    if "lm_head.weight" in state:
        names.append("lm_head.weight")
    return names


def convert(state, cfg, types, arch):
    """HF float64 state dict -> [(gguf name, data, qtype)] and the dequantized HF state dict."""
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    tensors, deq_state = [], {}
    for hf in hf_order(state, cfg["num_hidden_layers"]):
        name = gguf_name(hf)
        x = np.asarray(state[hf], dtype=np.float64)
        permuted = arch == "llama" and (".attn_q." in name or ".attn_k." in name)
        if permuted:
            x = permute(x, heads, heads if ".attn_q." in name else kv)
        qtype = T.F32 if x.ndim == 1 else types[name]
        data, deq, rel = encode(x, qtype)
        QUANT_ERR[name] = float(rel)
        if permuted:
            deq = unpermute(deq, heads if ".attn_q." in name else kv)
        tensors.append((name, data, qtype))
        deq_state[hf] = torch.tensor(deq, dtype=torch.float64)
    return tensors, deq_state


def tokenizer_gpt2(tok_dir, bos_id):
    tj = json.load(open(os.path.join(tok_dir, "tokenizer.json"), encoding="utf-8"))
    tc = json.load(open(os.path.join(tok_dir, "tokenizer_config.json"), encoding="utf-8"))
    vocab = dict(tj["model"]["vocab"])
    special = {}
    for a in tj["added_tokens"]:
        vocab[a["content"]] = a["id"]
        special[a["id"]] = a["special"]
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    types = [(3 if special[i] else 4) if i in special else 1 for i in range(len(tokens))]
    ids = {t: i for i, t in enumerate(tokens)}
    return {
        "model": "gpt2",
        "pre": "gpt-2",  # ByteLevel(use_regex=True, add_prefix_space=False): the GPT-2 split regex
        "tokens": tokens,
        "merges": merges,
        "token_type": types,
        "bos": bos_id,
        "eos": ids[tc["eos_token"]],
        "pad": ids[tc["pad_token"]] if tc.get("pad_token") else None,
        "add_bos": False,
        "chat_template": tc["chat_template"],
    }


def tokenizer_llama(tok_dir):
    tj = json.load(open(os.path.join(tok_dir, "tokenizer.json"), encoding="utf-8"))
    tc = json.load(open(os.path.join(tok_dir, "tokenizer_config.json"), encoding="utf-8"))
    vocab = tj["model"]["vocab"]
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    special = {a["id"] for a in tj["added_tokens"] if a["special"]}
    types, scores = [], []
    for i, t in enumerate(tokens):
        if i in special:
            types.append(3)  # CONTROL
            scores.append(0.0)
        elif len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
            types.append(6)  # BYTE
            scores.append(0.0)
        else:
            types.append(1)  # NORMAL
            scores.append(-float(i))  # -rank: SentencePiece BPE's merge priority
    ids = {t: i for i, t in enumerate(tokens)}
    return {
        "model": "llama",
        "pre": "default",
        "tokens": tokens,
        "scores": scores,
        "token_type": types,
        "bos": ids[tc["bos_token"]],
        "eos": ids[tc["eos_token"]],
        "unk": ids[tc["unk_token"]],
        "add_bos": bool(tc.get("add_bos_token", True)),
        "add_eos": bool(tc.get("add_eos_token", False)),
        "add_space_prefix": True,  # Metaspace(prepend_scheme="first")
        "chat_template": tc["chat_template"],
    }


FILE_TYPE = {"F32": 0, "F16": 1, "BF16": 32, "Q4_K_M": 15, "Q4_0": 2}


def write_gguf(path, arch, name, cfg, tensors, tok, file_type):
    w = GGUFWriter(path, arch)
    w.add_type(gguf.GGUFType.MODEL)
    w.add_name(name)
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    head_dim = cfg.get("head_dim") or hidden // heads
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(hidden)
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_rope_freq_base(cfg["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    if head_dim != hidden // heads:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    if arch == "llama":  # LlamaModel.set_gguf_parameters
        w.add_vocab_size(cfg["vocab_size"])
        w.add_rope_dimension_count(head_dim)
    w.add_file_type(file_type)
    if file_type not in (0, 1, 32):
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    if tok is None:
        # No tokenizer ships with this model: llama.cpp's "no vocab" marker, and the vocabulary size.
        w.add_tokenizer_model("none")
        if arch != "llama":
            w.add_vocab_size(cfg["vocab_size"])
    else:
        w.add_tokenizer_model(tok["model"])
        w.add_tokenizer_pre(tok["pre"])
        w.add_token_list(tok["tokens"])
        if "scores" in tok:
            w.add_token_scores(tok["scores"])
        w.add_token_types(tok["token_type"])
        if "merges" in tok:
            w.add_token_merges(tok["merges"])
        if tok.get("bos") is not None:
            w.add_bos_token_id(tok["bos"])
        w.add_eos_token_id(tok["eos"])
        if tok.get("unk") is not None:
            w.add_unk_token_id(tok["unk"])
        if tok.get("pad") is not None:
            w.add_pad_token_id(tok["pad"])
        w.add_add_bos_token(tok["add_bos"])
        if "add_eos" in tok:
            w.add_add_eos_token(tok["add_eos"])
        if "add_space_prefix" in tok:
            w.add_add_space_prefix(tok["add_space_prefix"])
        w.add_chat_template(tok["chat_template"])
    for tname, data, qtype in tensors:
        w.add_tensor(tname, data, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# --- reference forward passes ------------------------------------------------------------------------


def inv_freq(theta, head_dim):
    return 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))


def patch_rope(model, theta, head_dim):
    hf_inv = model.model.rotary_emb.inv_freq.to(torch.float64).numpy()
    ours = inv_freq(theta, head_dim)
    assert np.allclose(hf_inv, ours, rtol=1e-6, atol=0), (hf_inv, ours)
    model.model.rotary_emb = mf.Rotary64(ours)
    model.eval()
    return model


def hf_model_from_state(cfg, state):
    """The gguf-py path: a float64 HF model holding the dequantized (and un-permuted) weights."""
    d = tempfile.mkdtemp()
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    config = AutoConfig.from_pretrained(d)
    shutil.rmtree(d)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float64)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k == "lm_head.weight" for k in missing), (missing, unexpected)
    if cfg["tie_word_embeddings"]:
        model.tie_weights()
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    return patch_rope(model, cfg["rope_theta"], head_dim)


def margins_of(model, prompt):
    tokens, margins = mf.greedy(model, prompt, GREEDY_TOKENS)
    with torch.no_grad():
        top = torch.topk(model(torch.tensor([prompt])).logits[0], 2, dim=-1).values
    return tokens, margins, float((top[:, 0] - top[:, 1]).min())


def transformers_gguf(fname):
    """The independent path: transformers' GGUF loader, float64."""
    from transformers import GgufConfig

    model = AutoModelForCausalLM.from_pretrained(
        OUT, gguf_file=fname, dtype=torch.float64, quantization_config=GgufConfig(dequantize=True)
    )
    for n, p in model.named_parameters():
        assert p.dtype == torch.float64, (n, p.dtype)
    for n, b in model.named_buffers():
        assert not b.dtype == torch.uint8, (n, "packed GGUF weights were kept")
    c = model.config
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    theta = c.rope_parameters["rope_theta"] if getattr(c, "rope_parameters", None) else c.rope_theta
    return patch_rope(model, theta, head_dim), c


def tokenizer_golden(fname, source_dir):
    """transformers' GGUF tokenizer ids vs the source tokenizer.json's, for make-fixtures.py's texts."""
    from tokenizers import Tokenizer

    src = Tokenizer.from_file(os.path.join(source_dir, "tokenizer.json"))
    try:
        hf = AutoTokenizer.from_pretrained(OUT, gguf_file=fname)
    except Exception as e:  # noqa: BLE001
        return {"transformersGguf": f"failed: {type(e).__name__}: {e}"[:300]}
    cases = []
    for text in mf.TOKENIZER_CASES:
        ids = hf.encode(text, add_special_tokens=False)
        want = src.encode(text, add_special_tokens=False).ids
        cases.append({"text": text, "idsNoSpecial": ids, "sourceIdsNoSpecial": want, "agree": ids == want})
    return {"transformersGguf": "ok", "cases": cases}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def tensor_table(path):
    r = gguf.GGUFReader(path)
    return {
        t.name: {"type": t.tensor_type.name, "dims": [int(x) for x in t.shape], "maxRelQuantError": QUANT_ERR[t.name]}
        for t in r.tensors
    }


def finish(spec, cfg, arch, tensors, tok, deq_state, prompt, seed, expect_greedy=None, source_tok=None):
    fname = spec["name"] + ".gguf"
    path = os.path.join(OUT, fname)
    write_gguf(path, arch, spec["name"], cfg, tensors, tok, FILE_TYPE[spec["file_type"]])
    # Second path (ours): gguf-py dequantization of the written file + our reverse permutation.
    reader = gguf.GGUFReader(path)
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    inv_names = {gguf_name(k): k for k in deq_state}
    state = {}
    for t in reader.tensors:
        x = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64)
        if arch == "llama" and (".attn_q." in t.name or ".attn_k." in t.name):
            x = unpermute(x, heads if ".attn_q." in t.name else kv)
        state[inv_names[t.name]] = torch.tensor(x.reshape(deq_state[inv_names[t.name]].shape))
        assert torch.equal(state[inv_names[t.name]], deq_state[inv_names[t.name]]), t.name
    ours = hf_model_from_state(cfg, state)
    tokens_ours, margins_ours, pm_ours = margins_of(ours, prompt)
    path_used = "transformers-gguf"
    try:
        model, hc = transformers_gguf(fname)
        tokens, margins, prompt_margin = margins_of(model, prompt)
        with torch.no_grad():
            a = model(torch.tensor([prompt])).logits
            b = ours(torch.tensor([prompt])).logits
        cross = float((a - b).abs().max())
        loaded = {
            "vocab_size": hc.vocab_size,
            "hidden_size": hc.hidden_size,
            "tie_word_embeddings": bool(hc.tie_word_embeddings),
            "head_dim": getattr(hc, "head_dim", None),
            "num_key_value_heads": hc.num_key_value_heads,
        }
        assert tokens == tokens_ours, (tokens, tokens_ours)
        assert cross < 1e-9, cross
    except Exception as e:  # noqa: BLE001
        print(f"  {fname}: transformers' GGUF loader failed ({type(e).__name__}: {e}); using the gguf-py path")
        path_used, tokens, margins, prompt_margin, cross, loaded = "gguf-py-dequant", tokens_ours, margins_ours, pm_ours, None, None
    if expect_greedy is not None:
        assert tokens == expect_greedy, (tokens, expect_greedy)
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // heads
    golden = {
        "ggufFixtureVersion": GGUF_FIXTURE_VERSION,
        "generator": GENERATOR,
        "referenceCommit": f"transformers {transformers.__version__}, torch {torch.__version__}, gguf {gguf_version()}",
        "about": spec["about"],
        "file": fname,
        "sha256": sha256(path),
        "size": os.path.getsize(path),
        "seed": seed,
        "goldenPath": path_used,
        "goldenPathDetail": GOLDEN_PATHS[path_used],
        "computeDtype": "float64",
        "crossCheckMaxAbsLogitDiff": cross,
        "config": {
            "architecture": arch,
            "vocabSize": cfg["vocab_size"],
            "hiddenSize": cfg["hidden_size"],
            "intermediateSize": cfg["intermediate_size"],
            "numLayers": cfg["num_hidden_layers"],
            "numHeads": heads,
            "numKvHeads": kv,
            "headDim": head_dim,
            "ropeTheta": cfg["rope_theta"],
            "rmsNormEps": cfg["rms_norm_eps"],
            "contextLength": cfg["max_position_embeddings"],
            "tieWordEmbeddings": cfg["tie_word_embeddings"],
            "attentionBias": arch == "qwen2",
            "bosTokenId": None if tok is None else tok.get("bos"),
            "eosTokenId": None if tok is None else tok["eos"],
            "tokenizerModel": "none" if tok is None else tok["model"],
            "tokenizerPre": None if tok is None else tok["pre"],
        },
        "transformersConfig": loaded,
        "prompt": prompt,
        "greedy": tokens,
        "greedyMargins": margins,
        "greedyMinMargin": min(margins),
        "promptMinMargin": prompt_margin,
        "tensors": tensor_table(path),
    }
    if expect_greedy is not None:
        golden["matchesSafetensorsGolden"] = True
    if source_tok is not None:
        golden["tokenizer"] = tokenizer_golden(fname, source_tok)
    with open(os.path.join(OUT, spec["name"] + ".golden.json"), "w") as f:
        json.dump(golden, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"{fname}: {golden['size']} B, path {path_used}, greedy {tokens}, min margin {min(margins):.4f}, cross {cross}")


GOLDEN_PATHS = {
    "transformers-gguf": "AutoModelForCausalLM.from_pretrained(dir, gguf_file=...) in float64 (transformers' "
    "legacy GGUF loader for llama/qwen2: gguf-py dequantize, transformers' own Q/K reverse permutation and "
    "GGUF-to-config mapping), float64 RoPE patch, full forward per step; cross-checked against the gguf-py path",
    "gguf-py-dequant": "every tensor dequantized with gguf.quants.dequantize, Q/K un-permuted by this script, "
    "loaded into a float64 transformers model, float64 RoPE patch, full forward per step",
}


def gguf_version():
    from importlib.metadata import version

    return version("gguf")


# --- the fixtures ------------------------------------------------------------------------------------


def from_safetensors(spec):
    src = os.path.join(FIX, "models", spec["source"])
    cfg = json.load(open(os.path.join(src, "config.json")))
    golden = json.load(open(os.path.join(src, "golden.json")))
    arch = cfg["model_type"]
    st = load_file(os.path.join(src, "model.safetensors"))
    state = {}
    for k, v in st.items():
        state[k] = v.to(torch.float64).numpy()
    types = {gguf_name(k): spec["matrix_type"] for k in state if state[k].ndim == 2}
    tensors, deq = convert(state, cfg, types, arch)
    for k in state:  # lossless: F32 stays F32, BF16 stays BF16
        assert np.array_equal(deq[k].numpy(), state[k]), k
    tok = None
    source_tok = None
    if os.path.exists(os.path.join(src, "tokenizer.json")):
        tok = tokenizer_gpt2(src, cfg.get("bos_token_id"))
        source_tok = src
    finish(spec, cfg, arch, tensors, tok, deq, golden["prompt"], golden["seed"], expect_greedy=golden["greedy"], source_tok=source_tok)


def seeded(spec):
    tok_dir = os.path.join(FIX, "tokenizers", spec["tokenizer"])
    tok = tokenizer_gpt2(tok_dir, None) if spec["tokenizer"] == "bytelevel-bpe" else tokenizer_llama(tok_dir)
    vocab = len(tok["tokens"])
    base = dict(family="llama", dtype="F32", theta=spec["theta"], tie=spec["tie"], hidden=spec["hidden"], inter=spec["inter"],
                layers=spec["layers"], heads=spec["heads"], kv=spec["kv"])
    if "head_dim" in spec:
        base["head_dim"] = spec["head_dim"]
    cfg = mf.hub_config(base, vocab)
    cfg["bos_token_id"] = tok.get("bos")
    cfg["eos_token_id"] = tok["eos"]
    for attempt in range(30):
        seed = spec["seed"] + 1000 * attempt
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f)
        config = AutoConfig.from_pretrained(d)
        shutil.rmtree(d)
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float64)
        mf.init_weights(model, torch.Generator().manual_seed(seed))
        state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
        if spec["tie"]:
            state.pop("lm_head.weight", None)
        tensors, deq = convert(state, cfg, spec["types"](cfg), "llama")
        rng = np.random.default_rng(seed)
        prompt = [int(x) for x in rng.integers(3, vocab, size=int(rng.integers(8, 13)))]
        m = hf_model_from_state(cfg, deq)
        tokens, margins, pm = margins_of(m, prompt)
        print(f"  {spec['name']} seed {seed}: margins {min(margins):.4f}/{pm:.4f}, distinct {len(set(tokens))}")
        if min(margins) >= MIN_MARGIN and pm >= MIN_MARGIN and len(set(tokens)) >= 8:
            break
    else:
        raise RuntimeError(f"{spec['name']}: no seed gave clear margins")
    finish(spec, cfg, "llama", tensors, tok, deq, prompt, seed, source_tok=tok_dir)


def q4km_types(cfg):
    """Q4_K_M-like: Q6_K for output and the first layer's attn_v/ffn_down, Q5_K for some of layer 1,
    Q4_K elsewhere; ffn_down rows (intermediate 320) are not a multiple of 256, so it falls back as
    llama.cpp does (Q6_K -> Q8_0, Q4_K -> Q5_0)."""
    t = {"token_embd.weight": T.Q4_K, "output.weight": T.Q6_K}
    for i in range(cfg["num_hidden_layers"]):
        p = f"blk.{i}."
        for m in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up"):
            t[p + m + ".weight"] = T.Q4_K
        t[p + "ffn_down.weight"] = T.Q8_0 if i == 0 else T.Q5_0
    t["blk.0.attn_v.weight"] = T.Q6_K
    t["blk.1.attn_k.weight"] = T.Q5_K
    t["blk.1.attn_output.weight"] = T.Q5_K
    assert cfg["intermediate_size"] % 256 != 0
    return t


def legacy_types(cfg):
    order = [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]
    t = {"token_embd.weight": T.Q8_0}
    k = 0
    for i in range(cfg["num_hidden_layers"]):
        for m in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"):
            t[f"blk.{i}.{m}.weight"] = order[k % len(order)]
            k += 1
    return t


def f16_types(cfg):
    t = {"token_embd.weight": T.F16, "output.weight": T.F16}
    for i in range(cfg["num_hidden_layers"]):
        for m in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"):
            t[f"blk.{i}.{m}.weight"] = T.F16
    return t


SPECS = [
    dict(name="llama-chat-f32", kind="convert", source="llama-chat-f32", matrix_type=T.F32, file_type="F32",
         about="models/llama-chat-f32 converted at F32: llama, GQA 2, head_dim 12, untied, gpt2 tokenizer + ChatML template; greedy equals the safetensors golden"),
    dict(name="llama-q4km-mix", kind="seeded", seed=2001, hidden=256, inter=320, layers=2, heads=4, kv=2, tie=False,
         theta=10000.0, tokenizer="bytelevel-bpe", types=q4km_types, file_type="Q4_K_M",
         about="seeded llama, hidden 256, intermediate 320, 4 heads / 2 KV heads, 2 layers, untied, Q4_K_M-like mix (Q4_K, Q5_K, Q6_K; ffn_down Q8_0/Q5_0 fallbacks), gpt2 tokenizer"),
    dict(name="llama-legacy-mix", kind="seeded", seed=2002, hidden=64, inter=128, layers=2, heads=4, kv=2, tie=True,
         theta=10000.0, tokenizer="sentencepiece-bpe", types=legacy_types, file_type="Q4_0",
         about="seeded llama, hidden 64, 4 heads / 2 KV heads, 2 layers, Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 mixed, tied Q8_0 token_embd (no output.weight), SentencePiece-style llama tokenizer"),
    dict(name="llama-f16", kind="seeded", seed=2003, hidden=64, inter=128, layers=2, heads=4, kv=2, head_dim=24, tie=False,
         theta=10000.0, tokenizer="bytelevel-bpe", types=f16_types, file_type="F16",
         about="seeded llama, hidden 64, 4 heads / 2 KV heads, head_dim 24 != 64/4 (attention.key_length), 2 layers, untied, F16 matrices, gpt2 tokenizer"),
    dict(name="qwen2-bias-bf16", kind="convert", source="qwen2-bias-bf16", matrix_type=T.BF16, file_type="BF16",
         about="models/qwen2-bias-bf16 converted at BF16: qwen2 (not permuted), q/k/v biases, 7 heads / 1 KV head, tied, no tokenizer (tokenizer.ggml.model none); greedy equals the safetensors golden"),
]


def main():
    torch.set_num_threads(1)
    only = set(sys.argv[1:])
    os.makedirs(OUT, exist_ok=True)
    for spec in SPECS:
        if only and spec["name"] not in only:
            continue
        (from_safetensors if spec["kind"] == "convert" else seeded)(spec)
    goldens = [os.path.join(OUT, f) for f in sorted(os.listdir(OUT)) if f.endswith(".json")]
    subprocess.run(["npx", "prettier", "--write", *goldens], check=True, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
