"""The pair as Q8_0 GGUF files, and the Q8_0 weights' evaluation.

Writes <out>/target.q8_0.gguf and <out>/draft.q8_0.gguf from the exported float32 weights
(<out>/{target,draft}/model.safetensors, i.e. the trained checkpoints), the way llama.cpp's
convert_hf_to_gguf.py writes a Llama (--outtype q8_0): Q and K rows permuted to the adjacent-pair RoPE
layout, matrices Q8_0 where their rows are a multiple of 32 (else F16), norms F32, the tied embedding as
`token_embd` only, gpt2 tokenizer metadata from tokenizer.json, the chat template, bos/eos/eot/pad ids.
Quantization is gguf-py's (the same numpy code the converter calls).

Then it evaluates the dequantized Q8_0 weights with evaluate.py, as the pipeline's evaluate stage does for
float32: validation loss of target and draft, and greedy acceptance of the Q8_0 draft against the Q8_0
target (same held-out prompts, same draft length). The float32 figures are recomputed on the same data,
so the card can show that the held-out set is the one the float32 figures were measured on.

Runs as the pipeline's `gguf` stage, or alone on a finished export (no training):
    tools/train-default-model/train.sh --gguf-only       # or: .venv/bin/python export_gguf.py
Alone, it needs the validation tokens: work/<preset>/tokens/val.npy if the pipeline left it, otherwise
it rebuilds the corpus (corpus.py; needs mod2imp and npm, like the corpus stage) and encodes the held-out
documents with the exported tokenizer.json exactly as the tokenizer stage does. It then rewrites the
card's Q8_0 section and manifest.json.
"""
import argparse
import hashlib
import json
import re
import time
from pathlib import Path

import gguf
import numpy as np
import torch
from gguf import GGMLQuantizationType as T
from safetensors.torch import load_file
from tokenizers import Tokenizer

import evaluate
from model import Llama, ModelArgs

KINDS = ("target", "draft")

HF_TO_GGUF = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
}


def gguf_name(hf: str) -> str:
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    p = hf.split(".")
    return f"blk.{p[2]}.{HF_TO_GGUF['.'.join(p[3:-1])]}.{p[-1]}"


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp LlamaModel.permute: rotate-half rows -> adjacent-pair rows, per head."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def model_args(cfg: dict) -> ModelArgs:
    return ModelArgs(vocab_size=cfg["vocab_size"], hidden_size=cfg["hidden_size"],
                     intermediate_size=cfg["intermediate_size"], num_hidden_layers=cfg["num_hidden_layers"],
                     num_attention_heads=cfg["num_attention_heads"], num_key_value_heads=cfg["num_key_value_heads"],
                     head_dim=cfg["head_dim"])


def tokenizer_meta(hf_dir: Path) -> dict:
    tj = json.loads((hf_dir / "tokenizer.json").read_text())
    tc = json.loads((hf_dir / "tokenizer_config.json").read_text())
    gc = json.loads((hf_dir / "generation_config.json").read_text())
    pre = tj["pre_tokenizer"]
    # ByteLevel with use_regex and no prefix space splits with the GPT-2 regex: llama.cpp's "gpt-2".
    assert pre["type"] == "ByteLevel" and pre["use_regex"] and not pre["add_prefix_space"], pre
    vocab = dict(tj["model"]["vocab"])
    special = {a["id"] for a in tj["added_tokens"] if a["special"]}
    for a in tj["added_tokens"]:
        vocab[a["content"]] = a["id"]
    tokens = [""] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    ids = {t: i for i, t in enumerate(tokens)}
    eos = gc["eos_token_id"] if isinstance(gc["eos_token_id"], list) else [gc["eos_token_id"]]
    return {
        "tokens": tokens,
        "merges": [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]],
        "token_type": [3 if i in special else 1 for i in range(len(tokens))],  # CONTROL / NORMAL
        "bos": ids[tc["bos_token"]], "eos": ids[tc["eos_token"]], "pad": ids[tc["pad_token"]],
        "eot": next((e for e in eos if e != ids[tc["eos_token"]]), None),  # <|end|> closes a chat turn
        "add_bos": bool(tc.get("add_bos_token", True)), "add_eos": bool(tc.get("add_eos_token", False)),
        "chat_template": tc["chat_template"],
    }


def matrix_type(x: np.ndarray) -> T:
    if x.ndim == 1:
        return T.F32
    return T.Q8_0 if x.shape[1] % 32 == 0 else T.F16


def write_gguf(hf_dir: Path, path: Path, name: str) -> dict:
    cfg = json.loads((hf_dir / "config.json").read_text())
    assert cfg["model_type"] == "llama" and cfg["tie_word_embeddings"], cfg
    state = {k: v.numpy() for k, v in load_file(hf_dir / "model.safetensors").items()}
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    head_dim = cfg["head_dim"]
    tok = tokenizer_meta(hf_dir)
    w = gguf.GGUFWriter(path, "llama")
    w.add_type(gguf.GGUFType.MODEL)
    w.add_name(name)
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_rope_freq_base(cfg["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    if head_dim != cfg["hidden_size"] // heads:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    w.add_vocab_size(cfg["vocab_size"])
    w.add_rope_dimension_count(head_dim)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tok["tokens"])
    w.add_token_types(tok["token_type"])
    w.add_token_merges(tok["merges"])
    w.add_bos_token_id(tok["bos"])
    w.add_eos_token_id(tok["eos"])
    if tok["eot"] is not None:
        w.add_eot_token_id(tok["eot"])
    w.add_pad_token_id(tok["pad"])
    w.add_add_bos_token(tok["add_bos"])
    w.add_add_eos_token(tok["add_eos"])
    w.add_chat_template(tok["chat_template"])
    order = ["model.embed_tokens.weight"]
    for i in range(cfg["num_hidden_layers"]):
        order += [f"model.layers.{i}.{m}.weight" for m in HF_TO_GGUF]
    order.append("model.norm.weight")
    assert sorted(order) == sorted(state), set(order) ^ set(state)
    types = {}
    for hf in order:
        x = state[hf].astype(np.float32)
        name_g = gguf_name(hf)
        if ".attn_q." in name_g:
            x = permute(x, heads)
        elif ".attn_k." in name_g:
            x = permute(x, kv)
        qtype = matrix_type(x)
        data = x if qtype == T.F32 else x.astype(np.float16) if qtype == T.F16 else gguf.quants.quantize(x, qtype)
        w.add_tensor(name_g, data, raw_dtype=qtype)
        types[name_g] = qtype.name
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    counts: dict[str, int] = {}
    for t in types.values():
        counts[t] = counts.get(t, 0) + 1
    return {"file": path.name, "size": path.stat().st_size,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "tensor_types": counts}


def load_gguf(path: Path, args: ModelArgs) -> Llama:
    """The tool's own Llama holding the file's dequantized weights (Q/K rows un-permuted)."""
    inverse = {gguf_name(k): k for k in Llama(args).state_dict() if k != "lm_head.weight"}
    state = {}
    for t in gguf.GGUFReader(path).tensors:
        x = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        if ".attn_q." in t.name:
            x = unpermute(x, args.num_attention_heads)
        elif ".attn_k." in t.name:
            x = unpermute(x, args.num_key_value_heads)
        state[inverse[t.name]] = torch.from_numpy(np.ascontiguousarray(x))
    m = Llama(args)
    missing, unexpected = m.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    return m.eval()


def load_f32(hf_dir: Path, args: ModelArgs) -> Llama:
    m = Llama(args)
    missing, unexpected = m.load_state_dict(load_file(hf_dir / "model.safetensors"), strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    return m.eval()


@torch.no_grad()
def check_transformers(path: Path, model: Llama, ids: list[int], texts: list[str], tokenizer_json: Path) -> dict:
    """transformers' own GGUF loader on the file (its dequantization, Q/K reverse permutation and config
    mapping) against the tool's model on the same dequantized weights; and its GGUF tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32,
                                              attn_implementation="eager").eval()
    x = torch.tensor([ids])
    err = (hf(x).logits - model(x)[0]).abs().max().item()
    hf_tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    ours = Tokenizer.from_file(str(tokenizer_json))
    agree = all(hf_tok.encode(t, add_special_tokens=False) == ours.encode(t, add_special_tokens=False).ids
                for t in texts)
    return {"transformers_max_abs_err": err, "transformers_tokenizer_agrees": agree}


def val_tokens(work: Path, seed: int, tokenizer_json: Path) -> tuple[np.ndarray, str]:
    """The held-out tokens the evaluate stage used: the pipeline's, or rebuilt the same way."""
    saved = work / "tokens" / "val.npy"
    if saved.exists():
        return np.load(saved), f"{saved}"
    import corpus

    val_txt = work / "corpus" / "val.txt"
    if not val_txt.exists():
        corpus.build_corpus(work, seed)
    tok = Tokenizer.from_file(str(tokenizer_json))
    eos = tok.token_to_id("</s>")
    docs = val_txt.read_text().split(corpus.DOC_SEP)
    arr = np.array([i for e in tok.encode_batch(docs) for i in e.ids + [eos]], dtype=np.uint16)
    return arr, "rebuilt: corpus.py held-out documents encoded with the exported tokenizer.json"


def export_and_evaluate(out: Path, work: Path, seed: int, p) -> dict:
    res: dict = {"files": {}}
    args = {}
    for kind in KINDS:
        hf_dir = out / kind
        cfg = json.loads((hf_dir / "config.json").read_text())
        args[kind] = model_args(cfg)
        res["files"][kind] = write_gguf(hf_dir, out / f"{kind}.q8_0.gguf", f"pipemesh-tiny-{kind}")
        print(f"[gguf] {res['files'][kind]}", flush=True)
    val, source = val_tokens(work, seed, out / "target" / "tokenizer.json")
    res["val_tokens"] = {"count": int(len(val)), "source": source}
    prompts = evaluate.acceptance_prompts(val, p.acceptance_prompts)
    for fmt, load in (("f32", lambda k: load_f32(out / k, args[k])),
                      ("q8_0", lambda k: load_gguf(out / f"{k}.q8_0.gguf", args[k]))):
        models = {k: load(k) for k in KINDS}
        res.setdefault("val_loss", {})[fmt] = {
            k: round(evaluate.val_loss(m, val, p.val_windows), 4) for k, m in models.items()}
        res.setdefault("acceptance", {})[fmt] = evaluate.acceptance(
            models["target"], models["draft"], prompts, p.acceptance_new_tokens, p.draft_len)
        if fmt == "q8_0":
            texts = ["Once upon a time", "Call me Ishmael. Some years ago", "  two  spaces, 1234 digits!\n"]
            for k in KINDS:
                res["files"][k].update(check_transformers(out / f"{k}.q8_0.gguf", models[k], val[:64].astype(int).tolist(),
                                                          texts, out / k / "tokenizer.json"))
                if res["files"][k]["transformers_max_abs_err"] > 1e-3 or not res["files"][k]["transformers_tokenizer_agrees"]:
                    raise SystemExit(f"GGUF check failed for {k}: {res['files'][k]}")
        print(f"[gguf] {fmt}: val loss {res['val_loss'][fmt]}, acceptance {res['acceptance'][fmt]}", flush=True)
    return res


def card_lines(g: dict, p) -> list[str]:
    """The model card's Q8_0 section (card.py places it after the float32 evaluation)."""
    vl, acc, files = g["val_loss"], g["acceptance"], g["files"]
    lines = [
        "### Q8_0 GGUF",
        "",
        "`target.q8_0.gguf` and `draft.q8_0.gguf` hold the same target and draft as single GGUF files "
        "(arch `llama`, written by `export_gguf.py` with gguf-py the way llama.cpp's converter writes "
        "`--outtype q8_0`: Q/K rows permuted for adjacent-pair RoPE, matrices Q8_0 (F16 if a row were not a "
        "multiple of 32), norms F32, tied `token_embd`, gpt2 tokenizer metadata (pre `gpt-2`), the chat template, bos/eos/eot/pad ids). "
        "The figures below are the same measurements as above, run on the dequantized Q8_0 weights "
        "(float32 compute); the float32 column is recomputed on the same held-out data in the same run. "
        "transformers' own GGUF loader reads both files back to the same logits (max abs difference "
        + ", ".join(f"{k} {files[k]['transformers_max_abs_err']:.2e}" for k in KINDS)
        + ") and its GGUF tokenizer encodes test strings as tokenizer.json does.",
        "",
        "| file | bytes | tensors |",
        "|---|---|---|",
        *[f"| `{f['file']}` | {f['size']:,} | " + ", ".join(f"{n} {t}" for t, n in sorted(f["tensor_types"].items()))
          + " |" for f in files.values()],
        "",
        "| model | validation loss, float32 | validation loss, Q8_0 |",
        "|---|---|---|",
        *[f"| {k} | {vl['f32'][k]} | {vl['q8_0'][k]} |" for k in KINDS],
        "",
        f"Acceptance of the draft against the target, both in the same format ({p.draft_len} drafted tokens, "
        f"the same {p.acceptance_prompts} held-out prompts, {p.acceptance_new_tokens} new tokens each):",
        "",
        "| weights | acceptance | accepted / drafted | tokens per target pass |",
        "|---|---|---|---|",
        *[f"| {fmt} | **{a['acceptance']}** | {a['accepted']} / {a['drafted']} | {a['tokens_per_target_pass']} |"
          for fmt, a in (("float32", acc["f32"]), ("Q8_0", acc["q8_0"]))],
        "",
    ]
    return lines


def patch_card(card_path: Path, lines: list[str]) -> None:
    """Replaces (or inserts) the Q8_0 section of an existing card, just before the export checks."""
    text = card_path.read_text()
    text = re.sub(r"### Q8_0 GGUF\n.*?(?=Export checks \(max abs)", "", text, flags=re.S)
    anchor = "Export checks (max abs"
    assert anchor in text, "card has no export-checks paragraph"
    text = text.replace(anchor, "\n".join(lines) + "\n" + anchor, 1)
    card_path.write_text(text)


def main():
    import card
    from config import PRESETS

    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="full")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    work = a.work or here / "work" / a.preset
    out = a.out or (here.parent.parent / "public" / "models" / "pipemesh-tiny" if a.preset == "full" else work / "out")
    p = PRESETS[a.preset]
    t0 = time.time()
    res = export_and_evaluate(out, work, a.seed, p)
    res["seconds"] = round(time.time() - t0, 1)  # the pipeline adds up its stages' seconds
    (work / "stages").mkdir(parents=True, exist_ok=True)
    (work / "stages" / "gguf.json").write_text(json.dumps(res, indent=2) + "\n")
    patch_card(out / "MODEL_CARD.md", card_lines(res, p))
    card.write_manifest(out)
    print(f"[gguf] card and manifest updated in {out}", flush=True)


if __name__ == "__main__":
    main()
