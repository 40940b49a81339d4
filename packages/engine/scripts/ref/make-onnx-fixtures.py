#!/usr/bin/env python3
"""Regenerates packages/engine/test/fixtures/onnx/: ONNX draft models (KV-cache inputs and outputs, the
layout of tools/train-default-model/export.py and of Hugging Face onnx-community exports) over weights the
engine can also load, for the ORT drafter's tests.

What it writes under test/fixtures/onnx/<name>/:
  config.json, tokenizer.json, tokenizer_config.json   copied from the source fixture (a draft directory
                                                        in Hugging Face layout, like the embedded pair's)
  onnx/model.onnx     exported with the training tool's own code path (model.py + export.export_onnx)
  onnx/expected.json  sidecar: fixtureVersion, generator, source weights, and per prompt the PyTorch and
                      onnxruntime (CPU) greedy next id, top-5 ids and logits, the top-1 margin, and an
                      8-token greedy continuation through the ONNX KV cache
  model.safetensors   the same weights in Hugging Face layout, so the engine drafter runs them too

Models:
  llama-chat-draft    the weights of test/fixtures/models/llama-chat-f32 plus seeded Gaussian noise (0.02 x
                      each tensor's std): a draft for that target which agrees with its greedy choice about
                      two times in three, so verification both accepts and rejects
  no-kv               a model with `input_ids` and `logits` but no KV-cache inputs (the coded-error test)

Usage: python3 -m venv .venv && .venv/bin/pip install torch==2.13.0+cpu numpy safetensors onnx onnxscript
       onnxruntime && .venv/bin/python packages/engine/scripts/ref/make-onnx-fixtures.py
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools", "train-default-model"))
from export import check_onnx, export_onnx, run_onnx  # noqa: E402  (the training tool's export path)
from model import Llama, ModelArgs  # noqa: E402

FIXTURE_VERSION = 1
GENERATOR = "packages/engine/scripts/ref/make-onnx-fixtures.py"
FIXTURES = os.path.join(REPO, "packages", "engine", "test", "fixtures")
OUT = os.path.join(FIXTURES, "onnx")
SOURCE = "llama-chat-f32"
NOISE_SEED = 4242
NOISE_SCALE = 0.02
PROMPT_SEED = 77
COPIED = ("config.json", "tokenizer.json", "tokenizer_config.json")


def model_args(config: dict) -> ModelArgs:
    return ModelArgs(
        vocab_size=config["vocab_size"],
        hidden_size=config["hidden_size"],
        intermediate_size=config["intermediate_size"],
        num_hidden_layers=config["num_hidden_layers"],
        num_attention_heads=config["num_attention_heads"],
        num_key_value_heads=config["num_key_value_heads"],
        head_dim=config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"],
        max_position_embeddings=config["max_position_embeddings"],
        rms_norm_eps=config["rms_norm_eps"],
        rope_theta=config["rope_theta"],
        tie_word_embeddings=config["tie_word_embeddings"],
    )


def load_source() -> tuple[Llama, dict, dict]:
    src = os.path.join(FIXTURES, "models", SOURCE)
    config = json.load(open(os.path.join(src, "config.json")))
    golden = json.load(open(os.path.join(src, "golden.json")))
    model = Llama(model_args(config)).eval()
    state = load_file(os.path.join(src, "model.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and not missing, (missing, unexpected)
    # The tool's model must reproduce the fixture's float64 transformers golden on these weights.
    ref = np.fromfile(os.path.join(src, "logits.f64.bin"), dtype="<f8").reshape(len(golden["prompt"]), -1)
    with torch.no_grad():
        ours = model(torch.tensor([golden["prompt"]]))[0][0].double().numpy()
    err = float(np.abs(ours - ref).max())
    assert err < 1e-4, f"the training tool's Llama differs from the fixture golden by {err}"
    return model, config, golden


def noisy_copy(model: Llama) -> Llama:
    out = Llama(model.args).eval()
    gen = torch.Generator().manual_seed(NOISE_SEED)
    state = {}
    for name, t in sorted(model.state_dict().items()):
        std = float(t.std()) if t.numel() > 1 else 0.0
        state[name] = t + NOISE_SCALE * std * torch.randn(t.shape, generator=gen)
    out.load_state_dict(state)
    return out


def prompts(golden: dict, vocab: int) -> list[list[int]]:
    rng = np.random.default_rng(PROMPT_SEED)
    out = [golden["prompt"]]
    for length in (1, 3, 12, 23):
        out.append([int(x) for x in rng.integers(3, vocab, size=length)])
    return out


@torch.no_grad()
def expected(model: Llama, path: str, cases_in: list[list[int]], meta: dict) -> dict:
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    cases = []
    for ids in cases_in:
        logits, past = run_onnx(sess, model.args, ids)
        last = logits[0, -1]
        ref_last = model(torch.tensor([ids]))[0][0, -1].numpy()
        top = np.argsort(-ref_last, kind="stable")[:5]
        cont, nxt = [], int(last.argmax())
        margins = []
        for _ in range(8):
            cont.append(nxt)
            step, past = run_onnx(sess, model.args, [nxt], past)
            s = np.sort(step[0, -1])
            margins.append(float(s[-1] - s[-2]))
            nxt = int(step[0, -1].argmax())
        torch_cont = list(ids)
        for _ in range(8):
            torch_cont.append(int(model(torch.tensor([torch_cont]))[0][0, -1].argmax()))
        cases.append({
            "prompt_ids": ids,
            "next_id_torch": int(ref_last.argmax()),
            "next_id_onnx": int(last.argmax()),
            "top5_ids": top.tolist(),
            "top5_logits_torch": [round(float(ref_last[i]), 6) for i in top],
            "top1_margin": round(float(ref_last[top[0]] - ref_last[top[1]]), 6),
            "greedy_8_onnx_kv_cache": cont,
            "greedy_8_torch": torch_cont[len(ids):],
            "greedy_8_min_margin": round(min(margins), 6),
        })
    return {**meta, "dtype": "float32", "cases": cases}


def write_json(path: str, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def write_draft(name: str, model: Llama, golden: dict, about: str) -> None:
    out = os.path.join(OUT, name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "onnx"))
    for f in COPIED:
        shutil.copyfile(os.path.join(FIXTURES, "models", SOURCE, f), os.path.join(out, f))
    sd = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    save_file(dict(sorted(sd.items())), os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    path = os.path.join(out, "onnx", "model.onnx")
    export_onnx(model, Path(path))
    checks = check_onnx(model, Path(path), golden["prompt"])
    assert max(checks.values()) < 1e-4, checks
    meta = {
        "fixtureVersion": FIXTURE_VERSION,
        "generator": GENERATOR,
        "referenceCommit": f"torch {torch.__version__}, onnxruntime {__import__('onnxruntime').__version__}",
        "about": about,
        "target": f"test/fixtures/models/{SOURCE}",
        "onnxChecks": checks,
    }
    write_json(os.path.join(out, "onnx", "expected.json"),
               expected(model, path, prompts(golden, model.args.vocab_size), meta))


class NoKv(torch.nn.Module):
    def __init__(self, vocab: int):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, 4)
        self.head = torch.nn.Linear(4, vocab, bias=False)

    def forward(self, input_ids):
        return self.head(self.emb(input_ids))


def write_no_kv(vocab: int) -> None:
    out = os.path.join(OUT, "no-kv")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "onnx"))
    torch.manual_seed(1)
    torch.onnx.export(NoKv(vocab).eval(), (torch.zeros(1, 2, dtype=torch.int64),),
                      os.path.join(out, "onnx", "model.onnx"), input_names=["input_ids"],
                      output_names=["logits"], dynamic_axes={"input_ids": {0: "b", 1: "t"}, "logits": {0: "b", 1: "t"}},
                      opset_version=17, dynamo=False)
    shutil.copyfile(os.path.join(FIXTURES, "models", SOURCE, "config.json"), os.path.join(out, "config.json"))


def main() -> None:
    torch.manual_seed(0)
    model, config, golden = load_source()
    write_draft("llama-chat-draft", noisy_copy(model), golden,
                f"a draft for {SOURCE}: its weights plus seeded noise ({NOISE_SCALE} x each tensor's std, "
                f"seed {NOISE_SEED})")
    write_no_kv(config["vocab_size"])
    # The repository's formatter owns JSON layout, so regenerating is diff-free.
    subprocess.run(["npx", "prettier", "--write", OUT], check=True, stdout=subprocess.DEVNULL)
    for root, _, files in sorted(os.walk(OUT)):
        for f in sorted(files):
            p = os.path.join(root, f)
            print(f"{os.path.relpath(p, REPO)}: {os.path.getsize(p)} bytes")


if __name__ == "__main__":
    main()
