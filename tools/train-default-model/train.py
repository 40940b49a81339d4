"""Training loop: next-token pretraining or logit distillation, resumable and deterministic.

Batches are a pure function of (seed, stage, step), so a resumed run sees exactly the batches an
uninterrupted one would. Checkpoints hold model + optimizer state; progress lines show an ETA.
"""
import math
import time
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from config import SEQ_LEN, Schedule
from model import Llama


def get_batch(tokens: np.ndarray, seed: int, stage: str, step: int, batch_size: int):
    """Random windows of SEQ_LEN + 1 tokens -> inputs, labels (B, SEQ_LEN) int64."""
    rng = np.random.default_rng([seed, zlib.crc32(stage.encode()), step])
    starts = rng.integers(0, len(tokens) - SEQ_LEN - 1, size=batch_size)
    x = np.stack([tokens[s : s + SEQ_LEN + 1] for s in starts]).astype(np.int64)
    x = torch.from_numpy(x)
    return x[:, :-1], x[:, 1:]


def lr_at(s: Schedule, step: int) -> float:
    if step < s.warmup_steps:
        return s.lr * (step + 1) / s.warmup_steps
    t = (step - s.warmup_steps) / max(1, s.steps - s.warmup_steps)
    return s.lr * (s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def make_optimizer(model: Llama, s: Schedule):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": s.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=s.lr, betas=(0.9, 0.95), eps=1e-8)


def loss_fn(model: Llama, x, y, teacher: Llama | None):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, _ = model(x)
    logits = logits.float()
    if teacher is None:
        return F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        t_logits, _ = teacher(x)
    # forward KL(teacher || student) per token: pulls the draft's argmax onto the target's
    t_logp = F.log_softmax(t_logits.float(), -1)
    s_logp = F.log_softmax(logits, -1)
    return (t_logp.exp() * (t_logp - s_logp)).sum(-1).mean()


def fmt_s(sec: float) -> str:
    sec = int(sec)
    return f"{sec // 3600}:{sec % 3600 // 60:02d}:{sec % 60:02d}"


def continuation_batch(seqs: np.ndarray, seed: int, stage: str, step: int, batch_size: int):
    """Random rows of the cached target continuations (N, L) -> inputs, labels (B, L - 1) int64."""
    rng = np.random.default_rng([seed, zlib.crc32(stage.encode()), step])
    x = torch.from_numpy(seqs[rng.integers(0, len(seqs), size=batch_size)].astype(np.int64))
    return x[:, :-1], x[:, 1:]


def train(model: Llama, s: Schedule, tokens: np.ndarray, seed: int, stage: str, ckpt_dir: Path,
          teacher: Llama | None = None, seqs: np.ndarray | None = None,
          score: Callable[[Llama], float] | None = None, stop_at: float | None = None) -> dict:
    """Runs (or resumes) a stage; returns {'train_loss', 'seconds'}. Weights end up in `model`.

    With `seqs` (fixed-length rows, e.g. the target's continuations) batches are rows of it instead of
    windows of `tokens`. With `score`, every checkpoint is scored (higher is better; the model is in eval
    mode meanwhile), the best-scoring weights are kept in best.pt and end up in `model`, and training stops
    at the first checkpoint scoring `stop_at` or more. Scores are part of the checkpoint, so a resumed run
    stops where an uninterrupted one would."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    ckpt = ckpt_dir / "last.pt"
    opt = make_optimizer(model, s)
    step, elapsed, ema, scores = 0, 0.0, None, {}
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, elapsed, ema = state["step"], state["elapsed"], state["ema"]
        scores = {int(k): v for k, v in state.get("scores", {}).items()}
        print(f"[{stage}] resuming at step {step}/{s.steps}", flush=True)
    model.train()
    t0 = time.time() - elapsed
    tok_per_step = s.batch_size * (SEQ_LEN if seqs is None else seqs.shape[1] - 1)
    stopped = stop_at is not None and any(v >= stop_at for v in scores.values())
    while step < s.steps and not stopped:
        for g in opt.param_groups:
            g["lr"] = lr_at(s, step)
        if seqs is None:
            x, y = get_batch(tokens, seed, stage, step, s.batch_size)
        else:
            x, y = continuation_batch(seqs, seed, stage, step, s.batch_size)
        loss = loss_fn(model, x, y, teacher)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step in s.snapshot_steps:
            torch.save(model.state_dict(), ckpt_dir / f"snapshot-{step:05d}.pt")
        if step % s.log_every == 0 or step == s.steps:
            done = time.time() - t0
            eta = done / step * (s.steps - step)
            print(f"[{stage}] step {step}/{s.steps} loss {ema:.3f} lr {lr_at(s, step - 1):.2e} "
                  f"{tok_per_step * step / done:,.0f} tok/s elapsed {fmt_s(done)} eta {fmt_s(eta)}", flush=True)
        if step % s.ckpt_every == 0 or step == s.steps:
            if score is not None:
                model.eval()
                scores[step] = score(model)
                model.train()
                best = max(scores, key=lambda k: (scores[k], -k))  # the earliest of equal scores
                print(f"[{stage}] step {step}: score {scores[step]} (best {scores[best]} at step {best})", flush=True)
                if best == step:
                    torch.save(model.state_dict(), ckpt_dir / "best.pt.tmp")
                    (ckpt_dir / "best.pt.tmp").replace(ckpt_dir / "best.pt")
                stopped = stop_at is not None and scores[step] >= stop_at
            state = {"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                     "elapsed": time.time() - t0, "ema": ema, "scores": scores}
            torch.save(state, ckpt_dir / "last.pt.tmp")
            (ckpt_dir / "last.pt.tmp").replace(ckpt)
    res = {"train_loss_ema": round(ema, 4), "seconds": round(time.time() - t0, 1), "steps": step,
           "tokens": step * tok_per_step}
    if score is not None:
        best = max(scores, key=lambda k: (scores[k], -k))
        model.load_state_dict(torch.load(ckpt_dir / "best.pt", weights_only=True))
        res.update(scores={str(k): v for k, v in scores.items()}, best_step=best, best_score=scores[best],
                   checkpoint=f"{ckpt_dir.name}/best.pt")
    model.eval()
    return res
