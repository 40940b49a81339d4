"""Measurements for the model card: validation loss, greedy speculative acceptance, samples.

All in float32. Plain generation recomputes the whole context (obviously correct); speculative
decoding uses a KV cache with roll-back (CachedModel), because it runs thousands of passes.
"""
import numpy as np
import torch
import torch.nn.functional as F

from config import SEQ_LEN
from model import Llama


@torch.no_grad()
def val_loss(model: Llama, val: np.ndarray, windows: int) -> float:
    """Mean next-token loss over the first `windows` non-overlapping SEQ_LEN windows of val."""
    n = min(windows, (len(val) - 1) // SEQ_LEN)
    total = 0.0
    for i in range(0, n, 16):
        rows = range(i, min(n, i + 16))
        x = torch.from_numpy(np.stack([val[r * SEQ_LEN : (r + 1) * SEQ_LEN + 1] for r in rows]).astype(np.int64))
        logits, _ = model(x[:, :-1])
        total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1), reduction="sum").item()
    return total / (n * SEQ_LEN)


@torch.no_grad()
def next_logits(model: Llama, ids: list[int]) -> torch.Tensor:
    return model(torch.tensor([ids]))[0][0, -1]


@torch.no_grad()
def generate(model: Llama, ids: list[int], n: int, temperature: float = 0.0, gen: torch.Generator | None = None):
    ids = list(ids)
    for _ in range(n):
        logits = next_logits(model, ids)
        if temperature == 0.0:
            ids.append(int(logits.argmax()))
        else:
            probs = F.softmax(logits / temperature, -1)
            ids.append(int(torch.multinomial(probs, 1, generator=gen)))
    return ids


@torch.no_grad()
def generate_batch(model: Llama, prompts: list[list[int]], n: int) -> np.ndarray:
    """Greedy continuations of equal-length prompts, all rows at once with a KV cache: (rows, P + n).
    Same tokens as generate() row by row (checked on the acceptance prompts)."""
    x = torch.tensor(prompts)
    B, P = x.shape
    logits, past = model(x)
    out = [x]
    for i in range(n):
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        out.append(nxt)
        if i < n - 1:  # one new position, attending to everything before it
            logits, past = model(nxt, torch.full((B, 1), P + i), torch.zeros(1, 1, 1, P + i + 1), past)
    return torch.cat(out, 1).numpy()


class CachedModel:
    """One sequence with a KV cache: extend() runs only the new tokens, sync() rolls the cache back
    to the longest prefix it shares with `ids`, keeping the last token uncached so its logits come out."""

    def __init__(self, model: Llama):
        self.model, self.ids, self.past = model, [], None

    @torch.no_grad()
    def extend(self, new: list[int]) -> torch.Tensor:
        """Logits (len(new), V) for the new tokens, appended after the cached ones."""
        P, T = len(self.ids), len(new)
        mask = torch.zeros(1, 1, T, P + T).masked_fill(
            torch.arange(P + T)[None, :] > torch.arange(T)[:, None] + P, float("-inf"))
        logits, self.past = self.model(torch.tensor([new]), torch.arange(P, P + T)[None], mask, self.past)
        self.ids = self.ids + new
        return logits[0]

    def sync(self, ids: list[int]) -> torch.Tensor:
        """Makes the cache hold ids and returns the logits after its last token."""
        n = 0
        while n < min(len(self.ids), len(ids) - 1) and self.ids[n] == ids[n]:
            n += 1
        self.ids = self.ids[:n]
        if self.past is not None:
            self.past = [(k[:, :, :n], v[:, :, :n]) for k, v in self.past]
        return self.extend(ids[n:])


@torch.no_grad()
def speculate(target: Llama, draft: Llama, prompt: list[int], new_tokens: int, k: int) -> tuple[list[int], int, int, int]:
    """Greedy speculative decoding: the draft proposes k tokens, the target keeps the longest
    matching prefix plus its own next token. Returns (tokens, accepted, drafted, target passes)."""
    ids, accepted, drafted, passes = list(prompt), 0, 0, 0
    d, t = CachedModel(draft), CachedModel(target)
    while len(ids) - len(prompt) < new_tokens:
        k_now = min(k, new_tokens - (len(ids) - len(prompt)))
        proposal = [int(d.sync(ids)[-1].argmax())]
        while len(proposal) < k_now:
            proposal.append(int(d.extend(proposal[-1:])[-1].argmax()))
        t_logits = t.sync(ids + proposal)[-(k_now + 1) :]  # (k_now + 1, V): after ids[-1] and each proposal
        t_next = t_logits.argmax(-1).tolist()
        n_ok = 0
        while n_ok < k_now and proposal[n_ok] == t_next[n_ok]:
            n_ok += 1
        accepted, drafted, passes = accepted + n_ok, drafted + k_now, passes + 1
        ids += proposal[:n_ok] + [t_next[n_ok]]
    return ids[: len(prompt) + new_tokens], accepted, drafted, passes


def acceptance_prompts(val: np.ndarray, count: int, length: int = 32, second_set: bool = False) -> list[list[int]]:
    """Evenly spaced windows of held-out (validation) tokens. second_set: the windows at the middles of
    `count` equal slices instead, a set that shares no token with the first one."""
    first = np.linspace(0, len(val) - length - 1, count).astype(int)
    starts = first
    if second_set:
        starts = ((np.arange(count) + 0.5) * (len(val) - length - 1) / count).astype(int)
        assert np.abs(starts[:, None] - first[None, :]).min() >= length, "the two prompt sets overlap"
    return [val[s : s + length].astype(int).tolist() for s in starts]


def acceptance(target: Llama, draft: Llama, prompts: list[list[int]], new_tokens: int, k: int) -> dict:
    acc = drafted = passes = 0
    for p in prompts:
        _, a, d, n = speculate(target, draft, p, new_tokens, k)
        acc, drafted, passes = acc + a, drafted + d, passes + n
    return {"acceptance": round(acc / drafted, 4), "accepted": acc, "drafted": drafted,
            "target_passes": passes, "tokens_per_target_pass": round(len(prompts) * new_tokens / passes, 3)}
