"""One command for the default model pair: corpus -> tokenizer -> target -> draft -> distill ->
distill2 (on the target's own continuations) -> weak draft -> export -> evaluate -> gguf (Q8_0 GGUF
files and their evaluation) -> model card. Each finished stage leaves work/stages/<name>.json and is
skipped on the next run, so an interrupted run resumes; training stages resume mid-way.

    python pipeline.py [--preset full|smoke] [--seed 1234] [--work DIR] [--out DIR] [--adopt-export]

--adopt-export continues the committed run when its work folder is gone (see adopt.py).
"""
import argparse
import json
import os
import platform
import time
import zlib
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

import adopt
import bpe
import card
import corpus
import evaluate
import export
import export_gguf
import train
from config import PRESETS, SEQ_LEN, Preset
from model import Llama

TOOL_DIR = Path(__file__).resolve().parent
MODELS_DIR = TOOL_DIR.parent.parent / "public" / "models"
MODEL_NAME = "pipemesh-tiny"
SAMPLE_PROMPTS = ["Once upon a time", "The old man looked at the sea and", "In the beginning",
                  "The President said that", "Call me Ishmael. Some years ago"]
FIXTURE_PROMPTS = ["Once upon a time", "The king said to his servants,", "We the people",
                   "It was a dark and stormy night", "And God said"]


class Run:
    def __init__(self, preset: Preset, seed: int, work: Path, out: Path):
        self.p, self.seed, self.work, self.out = preset, seed, work, out
        (work / "stages").mkdir(parents=True, exist_ok=True)

    def stage(self, name: str, fn) -> dict:
        done = self.work / "stages" / f"{name}.json"
        if done.exists():
            print(f"== {name}: done earlier, skipping", flush=True)
            return json.loads(done.read_text())
        print(f"== {name}", flush=True)
        t0 = time.time()
        result = fn()
        result.setdefault("seconds", round(time.time() - t0, 1))
        done.write_text(json.dumps(result, indent=2) + "\n")
        print(f"== {name}: finished in {train.fmt_s(result['seconds'])}", flush=True)
        return result

    # -- data -------------------------------------------------------------------------------
    def tokenizer(self) -> Tokenizer:
        return Tokenizer.from_file(str(self.work / "tokenizer" / "tokenizer.json"))

    def tokens(self, split: str) -> np.ndarray:
        return np.load(self.work / "tokens" / f"{split}.npy")

    def make_tokenizer(self) -> dict:
        docs = (self.work / "corpus" / "train.txt").read_text().split(corpus.DOC_SEP)
        tok = bpe.train_tokenizer(docs, self.p.target_args.vocab_size)
        bpe.save_tokenizer(tok, self.work / "tokenizer", self.p.target_args.max_position_embeddings)
        ids = bpe.special_ids(tok)
        (self.work / "tokens").mkdir(exist_ok=True)
        counts = {}
        for split in ("train", "val"):
            docs = (self.work / "corpus" / f"{split}.txt").read_text().split(corpus.DOC_SEP)
            arr = [i for e in tok.encode_batch(docs) for i in e.ids + [ids[bpe.EOS]]]  # <s> doc </s> ...
            np.save(self.work / "tokens" / f"{split}.npy", np.array(arr, dtype=np.uint16))
            counts[f"{split}_tokens"] = len(arr)
        return {**counts, "vocab_size": tok.get_vocab_size(), "special_ids": ids}

    # -- models -----------------------------------------------------------------------------
    def new_model(self, kind: str) -> Llama:
        torch.manual_seed(self.seed + {"target": 1, "draft": 2}[kind])
        return Llama(self.p.target_args if kind == "target" else self.p.draft_args)

    def load(self, kind: str, ckpt: str) -> Llama:
        m = self.new_model(kind)
        path = self.work / "ckpt" / ckpt
        state = torch.load(path, weights_only=True)
        m.load_state_dict(state["model"] if "model" in state else state)
        return m.eval()

    def fit(self, kind: str, stage: str, init: str | None = None, teacher: Llama | None = None) -> dict:
        m = self.load(kind, init) if init else self.new_model(kind)
        sched = {"target": self.p.target, "draft": self.p.draft, "distill": self.p.distill}[stage]
        return train.train(m, sched, self.tokens("train"), self.seed, stage, self.work / "ckpt" / stage, teacher)

    def prompts(self, second_set: bool = False) -> list[list[int]]:
        return evaluate.acceptance_prompts(self.tokens("val"), self.p.acceptance_prompts, second_set=second_set)

    def continuations(self) -> np.ndarray:
        """The target's greedy continuations of random training-split windows, (prompts, prompt_len +
        new_tokens) uint16, cached in work/continuations/ (written in parts, so generation resumes)."""
        c, d = self.p.continuations, self.work / "continuations"
        if (d / "train.npy").exists():
            return np.load(d / "train.npy")
        d.mkdir(exist_ok=True)
        tokens = self.tokens("train")
        rng = np.random.default_rng([self.seed, zlib.crc32(b"continuations")])
        starts = rng.integers(0, len(tokens) - c.prompt_len, size=c.prompts)
        target, parts, t0 = self.load("target", "target/last.pt"), [], time.time()
        for i in range(0, c.prompts, c.gen_batch):
            part = d / f"part-{i:06d}.npy"
            if not part.exists():
                prompts = [tokens[s : s + c.prompt_len].astype(int).tolist() for s in starts[i : i + c.gen_batch]]
                np.save(part, evaluate.generate_batch(target, prompts, c.new_tokens).astype(np.uint16))
                done = i + len(prompts)
                print(f"[continuations] {done}/{c.prompts} elapsed {train.fmt_s(time.time() - t0)}", flush=True)
            parts.append(part)
        seqs = np.concatenate([np.load(f) for f in parts])
        np.save(d / "train.npy", seqs)
        for f in parts:
            f.unlink()
        return seqs

    def distill2(self) -> dict:
        """The KL-distilled draft, trained further on forward KL to the target's logits at every position
        of the target's own greedy continuations: the sequences greedy speculative decoding verifies.
        Each checkpoint is scored by acceptance on the held-out prompts; the best one is kept, and the
        stage stops at the first that reaches the preset's stop_acceptance."""
        c = self.p.continuations
        t0 = time.time()
        seqs = self.continuations()
        gen_seconds = round(time.time() - t0, 1)
        target, draft, prompts = self.load("target", "target/last.pt"), self.load("draft", "distill/last.pt"), self.prompts()

        def score(m: Llama) -> float:
            return evaluate.acceptance(target, m, prompts, self.p.acceptance_new_tokens, self.p.draft_len)["acceptance"]

        res = train.train(draft, self.p.distill2, self.tokens("train"), self.seed, "distill2",
                          self.work / "ckpt" / "distill2", target, seqs=seqs, score=score, stop_at=c.stop_acceptance)
        res["continuations"] = {"sequences": int(len(seqs)), "prompt_len": c.prompt_len, "new_tokens": c.new_tokens,
                                "generation_seconds": gen_seconds}
        return res

    def accept(self, target: Llama, draft: Llama) -> dict:
        return evaluate.acceptance(target, draft, self.prompts(), self.p.acceptance_new_tokens, self.p.draft_len)

    def pick_weak(self) -> dict:
        """The most-trained early draft snapshot whose acceptance is below the weak ceiling
        (snapshots are tried in training order; acceptance grows with training, so stop at the first above)."""
        target, chosen, tried = self.load("target", "target/last.pt"), None, {}
        for step in sorted(self.p.draft.snapshot_steps):
            name = f"draft/snapshot-{step:05d}.pt"
            tried[step] = self.accept(target, self.load("draft", name))["acceptance"]
            print(f"[weak] snapshot step {step}: acceptance {tried[step]}", flush=True)
            if tried[step] >= self.p.weak_max_acceptance:
                break
            chosen = name
        if chosen is None:
            raise SystemExit(f"no draft snapshot has acceptance < {self.p.weak_max_acceptance}: {tried}")
        return {"checkpoint": chosen, "candidates": tried}

    # -- export & evaluation ------------------------------------------------------------------
    def models(self) -> dict[str, Llama]:
        weak = json.loads((self.work / "stages" / "weak.json").read_text())["checkpoint"]
        draft = json.loads((self.work / "stages" / "distill2.json").read_text())["checkpoint"]
        return {"target": self.load("target", "target/last.pt"), "draft": self.load("draft", draft),
                "draft-weak": self.load("draft", weak)}

    def export_all(self) -> dict:
        tok, ids = self.tokenizer(), json.loads((self.work / "stages" / "tokenizer.json").read_text())["special_ids"]
        models, checks = self.models(), {}
        probe = self.tokens("val")[:64].astype(int).tolist()
        fixtures = [tok.encode(t).ids for t in FIXTURE_PROMPTS]
        target_cont = [evaluate.generate(models["target"], p, 16)[len(p):] for p in fixtures]
        for name, m in models.items():
            d = self.out / name
            export.save_hf(m, d, ids, self.work / "tokenizer")
            checks[name] = {"transformers_max_abs_err": export.check_transformers(m, d, probe)}
            if name != "target":
                export.export_onnx(m, d / "onnx" / "model.onnx")
                checks[name].update(export.check_onnx(m, d / "onnx" / "model.onnx", probe))
                meta = {"generator": "tools/train-default-model/pipeline.py", "seed": self.seed,
                        "prompts_text": FIXTURE_PROMPTS}
                fixture = export.expected_fixture(m, d / "onnx" / "model.onnx", fixtures, target_cont, meta)
                export.write_json(d / "onnx" / "expected.json", fixture)
            print(f"[export] {name}: {checks[name]}", flush=True)
            worst = max(checks[name].values())
            if worst > 1e-3:
                raise SystemExit(f"export check failed for {name}: {checks[name]}")
        return {"checks": checks}

    def evaluate_all(self) -> dict:
        models, tok = self.models(), self.tokenizer()
        # the pretrained draft (absent when its stage was adopted: its weights were never exported)
        carried = adopt.carried_eval(self.work, "draft-before-distill")
        if not carried:
            models["draft-before-distill"] = self.load("draft", "draft/last.pt")
        models["draft-before-distill2"] = self.load("draft", "distill/last.pt")
        val = self.tokens("val")
        res = {"val_loss": {n: round(evaluate.val_loss(m, val, self.p.val_windows), 4) for n, m in models.items()}}
        print(f"[eval] val loss {res['val_loss']}", flush=True)
        res["acceptance"] = {n: self.accept(models["target"], m) for n, m in models.items() if n != "target"}
        print(f"[eval] acceptance {res['acceptance']}", flush=True)
        # distill2 chose its checkpoint on the prompts above; these share no token with them
        second = self.prompts(second_set=True)
        res["acceptance_second_set"] = {
            n: evaluate.acceptance(models["target"], models[n], second, self.p.acceptance_new_tokens, self.p.draft_len)
            for n in ("draft", "draft-before-distill2")}
        print(f"[eval] acceptance, second prompt set {res['acceptance_second_set']}", flush=True)
        if carried:
            res["val_loss"]["draft-before-distill"] = carried["val_loss"]
            res["acceptance"]["draft-before-distill"] = carried["acceptance"]
            res["carried"] = ["draft-before-distill"]
        res["samples"] = []
        for i, text in enumerate(SAMPLE_PROMPTS):
            p = tok.encode(text).ids
            gen = torch.Generator().manual_seed(self.seed + i)
            greedy = evaluate.generate(models["target"], p, 64)
            sampled = evaluate.generate(models["target"], p, 64, temperature=0.8, gen=gen)
            res["samples"].append({"prompt": text, "t0": continuation(tok, greedy, len(p)),
                                   "t08": continuation(tok, sampled, len(p))})
        res["params"] = {n: m.num_params() for n, m in models.items()}
        return res

    def finish(self, results: dict) -> dict:
        card.write_card(self.out, self.p, self.seed, results, machine())
        if self.out.resolve() == (MODELS_DIR / MODEL_NAME).resolve():
            export.write_json(MODELS_DIR / "default.json", {
                "name": MODEL_NAME, "target": f"{MODEL_NAME}/target", "draft": f"{MODEL_NAME}/draft",
                "draftWeak": f"{MODEL_NAME}/draft-weak"})
        manifest = card.write_manifest(self.out)
        return {"files": len(manifest), "bytes": sum(f["size"] for f in manifest.values())}


def continuation(tok: Tokenizer, ids: list[int], n_prompt: int) -> str:
    """Decoded text after the prompt (decoding the whole sequence keeps the joining space right)."""
    return tok.decode(ids)[len(tok.decode(ids[:n_prompt])):]


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "load_avg_15min": round(os.getloadavg()[2], 2),
            "torch": torch.__version__, "python": platform.python_version()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="full")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--work", type=Path, default=None, help="scratch dir (default: work/<preset>)")
    ap.add_argument("--out", type=Path, default=None, help="export dir (default: public/models/pipemesh-tiny "
                    "for the full preset, work/<preset>/out otherwise)")
    # One thread by default: the result then does not depend on the core count, and on a shared
    # machine two OpenMP threads lose most of their time waiting for each other at barriers.
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--adopt-export", action="store_true", help="continue from the exported pair and its card "
                    "when the work folder lacks the earlier stages (adopt.py)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    work = args.work or TOOL_DIR / "work" / args.preset
    out = args.out or (MODELS_DIR / MODEL_NAME if args.preset == "full" else work / "out")
    run = Run(PRESETS[args.preset], args.seed, work, out)
    t0 = time.time()
    results = {"corpus": run.stage("corpus", lambda: corpus.build_corpus(work, args.seed))}
    if args.adopt_export:
        adopt.adopt_export(run)
    results["tokenizer"] = run.stage("tokenizer", run.make_tokenizer)
    results["target"] = run.stage("target", lambda: run.fit("target", "target"))
    results["draft"] = run.stage("draft", lambda: run.fit("draft", "draft"))
    teacher = run.load("target", "target/last.pt")
    results["distill"] = run.stage("distill", lambda: run.fit("draft", "distill", "draft/last.pt", teacher))
    results["distill2"] = run.stage("distill2", run.distill2)
    results["weak"] = run.stage("weak", run.pick_weak)
    results["export"] = run.stage("export", run.export_all)
    results["eval"] = run.stage("evaluate", run.evaluate_all)
    results["gguf"] = run.stage("gguf", lambda: export_gguf.export_and_evaluate(out, work, args.seed, run.p))
    stages = [r for r in results.values() if isinstance(r, dict)]
    results["total_seconds"] = round(sum(r["seconds"] for r in stages if not r.get("adopted")), 1)
    results["adopted_seconds"] = round(sum(r["seconds"] for r in stages if r.get("adopted")), 1)
    results["card"] = run.finish(results)  # always rewritten: cheap, and reflects every stage
    print(f"== all stages done; this invocation took {train.fmt_s(time.time() - t0)}, "
          f"stages total {train.fmt_s(results['total_seconds'])}; output in {out}", flush=True)


if __name__ == "__main__":
    main()
