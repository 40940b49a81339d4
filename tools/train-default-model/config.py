"""Model shapes and training schedules for the default pair, as two presets: `full` and `smoke`.

`full` is what is committed under public/models/; `smoke` runs the whole pipeline in minutes
to check it end to end (its output goes to a scratch folder, never to public/models).
"""
from dataclasses import dataclass, replace

from model import ModelArgs

VOCAB_SIZE = 2048
SEQ_LEN = 256

TARGET = ModelArgs(vocab_size=VOCAB_SIZE, hidden_size=192, intermediate_size=512, num_hidden_layers=8,
                   num_attention_heads=6, num_key_value_heads=2, head_dim=32)
DRAFT = ModelArgs(vocab_size=VOCAB_SIZE, hidden_size=128, intermediate_size=384, num_hidden_layers=3,
                  num_attention_heads=4, num_key_value_heads=2, head_dim=32)


@dataclass(frozen=True)
class Schedule:
    steps: int
    lr: float
    batch_size: int = 32
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    ckpt_every: int = 200  # steps between resumable checkpoints
    log_every: int = 25
    snapshot_steps: tuple[int, ...] = ()  # extra weight-only copies (weak-draft candidates)


@dataclass(frozen=True)
class Continuations:
    """The distill2 stage's data: the target's greedy continuations of training-split prompts, the
    sequences greedy speculative decoding runs on (its prompts are 32 tokens, then 64 greedy tokens)."""
    prompts: int  # random windows of the training split, each continued by the target
    prompt_len: int = 32
    new_tokens: int = 64
    gen_batch: int = 128  # rows continued together (KV cache, no padding: all prompts are prompt_len long)
    stop_acceptance: float = 0.70  # distill2 stops at the first checkpoint whose acceptance reaches this


@dataclass(frozen=True)
class Preset:
    name: str
    target: Schedule
    draft: Schedule
    distill: Schedule
    distill2: Schedule  # batch_size counts continuations (prompt_len + new_tokens tokens each)
    continuations: Continuations
    target_args: ModelArgs = TARGET
    draft_args: ModelArgs = DRAFT
    weak_max_acceptance: float = 0.30  # the weak draft is the most-trained snapshot below this
    acceptance_prompts: int = 32
    acceptance_new_tokens: int = 64
    draft_len: int = 4
    val_windows: int = 200


PRESETS = {
    "full": Preset(
        name="full",
        target=Schedule(steps=2000, lr=2e-3, batch_size=8),
        draft=Schedule(steps=1200, lr=3e-3, batch_size=8, snapshot_steps=(10, 25, 50, 100, 150, 200, 300)),
        distill=Schedule(steps=800, lr=1e-3, batch_size=8, warmup_steps=40),
        # at most 1600 steps (under an hour at ~950 tokens/s); it stops at the first checkpoint >= 0.70
        distill2=Schedule(steps=1600, lr=5e-4, batch_size=32, warmup_steps=20),
        continuations=Continuations(prompts=4096),
    ),
    "smoke": Preset(
        name="smoke",
        target=Schedule(steps=60, lr=3e-3, batch_size=8, warmup_steps=10, ckpt_every=25, log_every=10),
        draft=Schedule(steps=60, lr=3e-3, batch_size=8, warmup_steps=10, ckpt_every=25, log_every=10,
                       snapshot_steps=(5, 10, 20)),
        distill=Schedule(steps=30, lr=1e-3, batch_size=8, warmup_steps=5, ckpt_every=25, log_every=10),
        distill2=Schedule(steps=30, lr=5e-4, batch_size=8, warmup_steps=5, ckpt_every=10, log_every=10),
        continuations=Continuations(prompts=64, new_tokens=16, gen_batch=32, stop_acceptance=1.0),
        target_args=replace(TARGET, num_hidden_layers=4),
        weak_max_acceptance=0.5,
        acceptance_prompts=4,
        acceptance_new_tokens=16,
        val_windows=8,
    ),
}
