"""Export to Hugging Face layout (config, safetensors, tokenizer, generation config) and, for
drafts, ONNX with KV cache named as in onnx-community exports; plus the parity checks that make
the exports trustworthy: transformers vs this model, onnxruntime vs this model.
"""
import json
import re
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from bpe import BOS, CHAT_TOKENS, EOS, PAD
from model import Llama, ModelArgs


def hf_config(a: ModelArgs, ids: dict[str, int]) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": a.vocab_size,
        "hidden_size": a.hidden_size,
        "intermediate_size": a.intermediate_size,
        "num_hidden_layers": a.num_hidden_layers,
        "num_attention_heads": a.num_attention_heads,
        "num_key_value_heads": a.num_key_value_heads,
        "head_dim": a.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": a.max_position_embeddings,
        "rms_norm_eps": a.rms_norm_eps,
        "rope_theta": a.rope_theta,
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": a.tie_word_embeddings,
        "bos_token_id": ids[BOS],
        "eos_token_id": ids[EOS],
        "pad_token_id": ids[PAD],
        "initializer_range": 0.02,
        "use_cache": True,
        "torch_dtype": "float32",
    }


def generation_config(ids: dict[str, int]) -> dict:
    return {"bos_token_id": ids[BOS], "eos_token_id": [ids[EOS], ids[CHAT_TOKENS[-1]]],
            "pad_token_id": ids[PAD], "do_sample": False}


def save_hf(model: Llama, out: Path, ids: dict[str, int], tokenizer_dir: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    if model.args.tie_word_embeddings:
        del sd["lm_head.weight"]
    save_file(dict(sorted(sd.items())), out / "model.safetensors", metadata={"format": "pt"})
    write_json(out / "config.json", hf_config(model.args, ids))
    write_json(out / "generation_config.json", generation_config(ids))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (out / name).write_bytes((tokenizer_dir / name).read_bytes())


def write_json(path: Path, obj) -> None:
    """Indented JSON with lists of numbers kept on one line."""
    text = json.dumps(obj, indent=2)
    text = re.sub(r"\[\s+([-0-9.e,\s]+?)\s+\]", lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]", text)
    path.write_text(text + "\n")


@torch.no_grad()
def check_transformers(model: Llama, hf_dir: Path, ids: list[int]) -> float:
    """Max |logits_transformers - logits_ours| for one sequence, both in float32."""
    from transformers import LlamaForCausalLM

    hf = LlamaForCausalLM.from_pretrained(hf_dir, torch_dtype=torch.float32, attn_implementation="eager").eval()
    x = torch.tensor([ids])
    return (hf(x).logits - model(x)[0]).abs().max().item()


class OnnxWrapper(torch.nn.Module):
    """Flat inputs/outputs for export: (input_ids, attention_mask, position_ids, k0, v0, k1, ...)."""

    def __init__(self, model: Llama):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, *past):
        T, L = input_ids.shape[1], attention_mask.shape[1]  # L = past + T
        q_pos = torch.arange(T).unsqueeze(1) + (L - T)  # absolute position of each query row
        k_pos = torch.arange(L).unsqueeze(0)
        allowed = (k_pos <= q_pos).unsqueeze(0) & attention_mask.bool().unsqueeze(1)  # (B, T, L)
        mask = torch.zeros(allowed.shape, dtype=torch.float32).masked_fill(~allowed, -1e9).unsqueeze(1)
        past_kvs = [(past[2 * i], past[2 * i + 1]) for i in range(len(past) // 2)]
        logits, presents = self.model(input_ids, position_ids, mask, past_kvs)
        return (logits, *[t for kv in presents for t in kv])


def onnx_names(n_layers: int) -> tuple[list[str], list[str]]:
    past = [f"past_key_values.{i}.{kv}" for i in range(n_layers) for kv in ("key", "value")]
    present = [f"present.{i}.{kv}" for i in range(n_layers) for kv in ("key", "value")]
    return ["input_ids", "attention_mask", "position_ids", *past], ["logits", *present]


def export_onnx(model: Llama, path: Path) -> None:
    a = model.args
    path.parent.mkdir(parents=True, exist_ok=True)
    in_names, out_names = onnx_names(a.num_hidden_layers)
    B, P, T = 1, 3, 2  # trace with a non-empty past so nothing specialises on past_len = 0
    past = [torch.zeros(B, a.num_key_value_heads, P, a.head_dim) for _ in range(2 * a.num_hidden_layers)]
    args = (torch.zeros(B, T, dtype=torch.int64), torch.ones(B, P + T, dtype=torch.int64),
            torch.arange(P, P + T).unsqueeze(0), *past)
    axes = {"input_ids": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
            "position_ids": {0: "batch_size", 1: "sequence_length"},
            "logits": {0: "batch_size", 1: "sequence_length"}}
    for n in in_names[3:]:
        axes[n] = {0: "batch_size", 2: "past_sequence_length"}
    for n in out_names[1:]:
        axes[n] = {0: "batch_size", 2: "total_sequence_length"}
    torch.onnx.export(OnnxWrapper(model).eval(), args, str(path), input_names=in_names, output_names=out_names,
                      dynamic_axes=axes, opset_version=17, dynamo=False)


def run_onnx(sess, a: ModelArgs, ids: list[int], past=None):
    """One onnxruntime call for a single sequence; past = list of (k, v) numpy arrays or None."""
    P = 0 if past is None else past[0][0].shape[2]
    T = len(ids)
    feeds = {"input_ids": np.array([ids], dtype=np.int64),
             "attention_mask": np.ones((1, P + T), dtype=np.int64),
             "position_ids": np.arange(P, P + T, dtype=np.int64)[None]}
    for i in range(a.num_hidden_layers):
        k, v = past[i] if past is not None else (np.zeros((1, a.num_key_value_heads, 0, a.head_dim), np.float32),) * 2
        feeds[f"past_key_values.{i}.key"], feeds[f"past_key_values.{i}.value"] = k, v
    outs = sess.run(None, feeds)
    return outs[0], [(outs[1 + 2 * i], outs[2 + 2 * i]) for i in range(a.num_hidden_layers)]


@torch.no_grad()
def check_onnx(model: Llama, path: Path, ids: list[int]) -> dict:
    """Compare onnxruntime to PyTorch: full prompt with empty past, then prefix + cached suffix,
    then a batch of two left-padded rows (padding masked out via attention_mask)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = model(torch.tensor([ids]))[0][0].numpy()  # (T, V)
    full, _ = run_onnx(sess, model.args, ids)
    split = len(ids) // 2
    _, past = run_onnx(sess, model.args, ids[:split])
    tail, present = run_onnx(sess, model.args, ids[split:], past)
    assert present[0][0].shape[2] == len(ids)
    err_padded = check_onnx_padded(sess, model, ids)
    return {"max_abs_err_empty_past": float(np.abs(full[0] - ref).max()),
            "max_abs_err_with_past": float(np.abs(tail[0] - ref[split:]).max()),
            "max_abs_err_left_padded_batch": err_padded}


def check_onnx_padded(sess, model: Llama, ids: list[int]) -> float:
    a, short, pad = model.args, ids[: len(ids) - 3], 3
    feeds = {"input_ids": np.array([ids, [0] * pad + short], dtype=np.int64),
             "attention_mask": np.array([[1] * len(ids), [0] * pad + [1] * len(short)], dtype=np.int64),
             "position_ids": np.array([range(len(ids)), [0] * pad + list(range(len(short)))], dtype=np.int64)}
    for i in range(a.num_hidden_layers):
        for kv in ("key", "value"):
            feeds[f"past_key_values.{i}.{kv}"] = np.zeros((2, a.num_key_value_heads, 0, a.head_dim), np.float32)
    logits = sess.run(["logits"], feeds)[0]
    ref_short = model(torch.tensor([short]))[0][0].numpy()
    ref_full = model(torch.tensor([ids]))[0][0].numpy()
    return float(max(np.abs(logits[1, pad:] - ref_short).max(), np.abs(logits[0] - ref_full).max()))


@torch.no_grad()
def expected_fixture(model: Llama, path: Path, prompts: list[list[int]], target_greedy: list[list[int]],
                     meta: dict) -> dict:
    """Golden next tokens for the TS engine's tests: per prompt (token ids, <s> first) the ONNX and
    PyTorch greedy next id, the top-5 logits, an 8-token greedy continuation run through the ONNX
    KV cache one token at a time, and the target's 16-token greedy continuation (PyTorch, float32)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    cases = []
    for ids, t_cont in zip(prompts, target_greedy):
        logits, past = run_onnx(sess, model.args, ids)
        last = logits[0, -1]
        ref_last = model(torch.tensor([ids]))[0][0, -1].numpy()
        top = np.argsort(-last, kind="stable")[:5]
        onnx_cont, nxt = [], int(last.argmax())
        for _ in range(8):
            onnx_cont.append(nxt)
            step_logits, past = run_onnx(sess, model.args, [nxt], past)
            nxt = int(step_logits[0, -1].argmax())
        torch_cont = ids.copy()
        for _ in range(8):
            torch_cont.append(int(model(torch.tensor([torch_cont]))[0][0, -1].argmax()))
        cases.append({
            "prompt_ids": ids,
            "next_id_onnx": int(last.argmax()),
            "next_id_torch": int(ref_last.argmax()),
            "top5_ids": top.tolist(),
            "top5_logits": [round(float(last[i]), 5) for i in top],
            "top1_margin": round(float(last[top[0]] - last[top[1]]), 5),
            "draft_greedy_8_onnx_kv_cache": onnx_cont,
            "draft_greedy_8_torch": torch_cont[len(ids):],
            "target_greedy_16_torch": t_cont,
        })
    return {**meta, "dtype": "float32", "cases": cases}
