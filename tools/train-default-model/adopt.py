"""Continue the committed run when its work folder is gone: `pipeline.py --adopt-export`.

Retraining the target and the first two draft stages takes over an hour and would not give the same
bytes on another CPU, so a later stage (distill2) starts from what the export holds instead. The corpus
and tokenizer stages run as usual (they reproduce the committed tokenizer.json byte for byte, checked
here); then, for each of target, draft, distill and weak whose stage file is missing:

- weights: work/ckpt/target/last.pt from <out>/target, work/ckpt/distill/last.pt from <out>/draft (the
  KL-distilled draft) and the weak draft's snapshot from <out>/draft-weak: the exported float32 tensors,
  which are exactly the checkpoints' weights (weights only, no optimizer state);
- figures: the training rows, the weak-draft candidates and the pretrained draft's validation loss and
  acceptance from <out>/MODEL_CARD.md, the card that run wrote. The pretrained draft's weights were never
  exported, so the evaluate stage carries its figures over instead of measuring them.

Each adopted stage file says so ("adopted"), and the card marks those figures as the earlier run's.
Only a card written before distill2 existed can be adopted: after it, <out>/draft is no longer the
KL-distilled draft.
"""
import json
import re
from pathlib import Path

import torch
from safetensors.torch import load_file

TRAINING_ROWS = {"target": "target", "draft": "draft (pretrain)", "distill": "draft (distill, KL)"}
ADOPTED = "from the committed export and its MODEL_CARD.md (pipeline.py --adopt-export)"


def parse_hms(text: str) -> int:
    h, m, s = (int(x) for x in text.split(":"))
    return h * 3600 + m * 60 + s


def card_figures(card: str) -> dict:
    """The figures of the stages that adoption cannot rerun, read from a card that card.py wrote."""
    if "distill2" in card:
        raise SystemExit("the card already describes distill2: <out>/draft is not the KL-distilled draft any more")
    res = {}
    for stage, name in TRAINING_ROWS.items():
        m = re.search(rf"^\| {re.escape(name)} \| (\d+) \| (\d+) x (\d+) \| ([\d,]+) \| [^|]+ \| ([\d.]+) \| "
                      r"(\d+:\d\d:\d\d) \|$", card, re.M)
        if m is None:
            raise SystemExit(f"no training row '{name}' in the card")
        res[stage] = {"train_loss_ema": float(m.group(5)), "seconds": parse_hms(m.group(6)),
                      "steps": int(m.group(1)), "tokens": int(m.group(4).replace(",", ""))}
    step = int(re.search(r"the draft's checkpoint after (\d+) steps", card).group(1))
    cands = re.search(r"Weak-draft candidates \(acceptance of early draft checkpoints, by step\): (.*?); ", card).group(1)
    res["weak"] = {"checkpoint": f"draft/snapshot-{step:05d}.pt",
                   "candidates": {k: float(v) for k, v in (c.split(": ") for c in cands.split(", "))}}
    vl = re.search(r"^\| draft-before-distill \| ([\d.]+) \|$", card, re.M)
    acc = re.search(r"^\| draft-before-distill \| \*\*([\d.]+)\*\* \| (\d+) / (\d+) \| ([\d.]+) \|$", card, re.M)
    res["draft"]["eval"] = {
        "val_loss": float(vl.group(1)),
        "acceptance": {"acceptance": float(acc.group(1)), "accepted": int(acc.group(2)),
                       "drafted": int(acc.group(3)), "tokens_per_target_pass": float(acc.group(4))}}
    m = re.search(r"^Machine: (.*), (\d+) cores, (\d+) torch threads, no GPU; torch (\S+), Python (\S+)\. ", card, re.M)
    load = re.search(r"15-minute load average ([\d.]+)", card)
    res["machine"] = {"cpu": m.group(1), "cores": int(m.group(2)), "torch_threads": int(m.group(3)),
                      "torch": m.group(4), "python": m.group(5), "load_avg_15min": float(load.group(1))}
    res["data"] = {"train_tokens": int(re.search(r"Train: ([\d,]+) tokens", card).group(1).replace(",", "")),
                   "val_tokens": int(re.search(r"validation: ([\d,]+) tokens", card).group(1).replace(",", ""))}
    return res


def exported_weights(model_dir: Path) -> dict:
    """The exported safetensors as a model state_dict (the tied lm_head restored)."""
    sd = load_file(model_dir / "model.safetensors")
    cfg = json.loads((model_dir / "config.json").read_text())
    if cfg["tie_word_embeddings"]:
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    return sd


def adopt_export(run) -> None:
    stages = run.work / "stages"
    missing = [s for s in ("target", "draft", "distill", "weak") if not (stages / f"{s}.json").exists()]
    if not missing:
        return
    print(f"== adopting {', '.join(missing)} {ADOPTED}", flush=True)
    fig = card_figures((run.out / "MODEL_CARD.md").read_text())
    # the data must be the committed run's: same tokenizer bytes, same token counts
    run.stage("tokenizer", run.make_tokenizer)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        if (run.work / "tokenizer" / name).read_bytes() != (run.out / "target" / name).read_bytes():
            raise SystemExit(f"the tokenizer stage's {name} differs from the export's: not the committed run's data")
    counts = {f"{split}_tokens": int(len(run.tokens(split))) for split in ("train", "val")}
    if counts != fig["data"]:
        raise SystemExit(f"token counts {counts} differ from the card's {fig['data']}")
    ckpt = run.work / "ckpt"
    sources = {"target": ("target", "target/last.pt"), "distill": ("draft", "distill/last.pt"),
               "weak": ("draft-weak", fig["weak"]["checkpoint"])}
    for stage in missing:
        if stage in sources:
            folder, dest = sources[stage]
            (ckpt / dest).parent.mkdir(parents=True, exist_ok=True)
            torch.save(exported_weights(run.out / folder), ckpt / dest)
            run.load("target" if stage == "target" else "draft", dest)  # the shapes must fit the preset
        record = {**fig[stage], "adopted": ADOPTED, "machine": fig["machine"]}
        if stage == "weak":
            record["seconds"] = 0.0  # not on the card; the earlier run's total counts the training rows only
        (stages / f"{stage}.json").write_text(json.dumps(record, indent=2) + "\n")


def carried_eval(work: Path, name: str) -> dict | None:
    """Figures of a model whose weights adoption could not restore (only the pretrained draft's)."""
    if name != "draft-before-distill" or (work / "ckpt" / "draft" / "last.pt").exists():
        return None
    draft = json.loads((work / "stages" / "draft.json").read_text())
    return draft.get("eval")
