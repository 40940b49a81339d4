"""MODEL_CARD.md and manifest.json, written from the numbers the pipeline measured (never by hand)."""
import hashlib
import json
from pathlib import Path

from bpe import CHAT_TEMPLATE
from config import SEQ_LEN, Preset, Schedule
from corpus import SOURCES
from train import fmt_s


def arch_row(name: str, a, params: int) -> str:
    return (f"| {name} | {params:,} | {a.num_hidden_layers} | {a.hidden_size} | {a.intermediate_size} | "
            f"{a.num_attention_heads} | {a.num_key_value_heads} | {a.head_dim} |")


EARLIER = " (earlier run)"  # marks figures an adopted stage carried over (adopt.py)


def sched_row(name: str, s: Schedule, r: dict, seq: int = SEQ_LEN) -> str:
    mark = EARLIER if r.get("adopted") else ""
    return (f"| {name}{mark} | {r.get('steps', s.steps)} | {s.batch_size} x {seq} | {r['tokens']:,} | {s.lr:g} | "
            f"{r['train_loss_ema']} | {fmt_s(r['seconds'])} |")


def write_card(out: Path, p: Preset, seed: int, r: dict, machine: dict) -> None:
    ev, params, acc = r["eval"], r["eval"]["params"], r["eval"]["acceptance"]
    ids = r["tokenizer"]["special_ids"]
    weak_step = int(r["weak"]["checkpoint"].split("-")[-1].split(".")[0])
    d2, cont = r["distill2"], p.continuations
    adopted = [n for n in ("target", "draft", "distill", "weak") if r[n].get("adopted")]
    carried = set(ev.get("carried", []))
    lines = [
        "# pipemesh-tiny",
        "",
        "A tiny Llama-architecture model pair trained from scratch by `tools/train-default-model` "
        "(run `tools/train-default-model/train.sh`), embedded as pipemesh's default so that the demo and "
        "the tests run without downloading anything. It writes simple English prose; it is not "
        "instruction-tuned and knows nothing useful. Every number below was measured by the tool in the run "
        "that produced these files" + (f" or, where marked{EARLIER}, in the earlier run whose stages this one "
                                        "adopted (see Training)." if adopted else "."),
        "",
        "| folder | role |",
        "|---|---|",
        f"| `target/` | the model being served ({p.target_args.num_hidden_layers} layers to split across peers) |",
        "| `draft/` | the speculative draft: pretrained, distilled from the target's logits, then distilled "
        "further on the target's own greedy continuations |",
        f"| `draft-weak/` | a deliberately weak draft (the draft's checkpoint after {weak_step} steps) "
        "for the low-acceptance benchmark scenario |",
        "",
        "Each folder is in Hugging Face layout (`config.json`, `model.safetensors` in float32, `tokenizer.json`, "
        "`tokenizer_config.json`, `generation_config.json`); the drafts also carry `onnx/model.onnx` "
        "(with KV cache) and `onnx/expected.json` (golden token ids for the TS engine's tests).",
        "",
        "## Data",
        "",
        "| source | licence | obtained from | documents | characters |",
        "|---|---|---|---|---|",
    ]
    for (title, licence, origin), key in zip(SOURCES, ("bible", "sotu", "moby")):
        c = r["corpus"][key]
        lines.append(f"| {title} | {licence} | {origin} | {c['docs']} | {c['chars']:,} |")
    lines += [
        "",
        "Cleaning: markup and footnotes removed, typographic punctuation mapped to ASCII, accents dropped. "
        "One document per Bible chapter, address or novel chapter; 2% of documents (seeded shuffle) are held "
        f"out for validation. Train: {r['tokenizer']['train_tokens']:,} tokens; validation: "
        f"{r['tokenizer']['val_tokens']:,} tokens.",
        "",
        "## Tokenizer",
        "",
        f"Byte-level BPE (Hugging Face `tokenizers`), {r['tokenizer']['vocab_size']} tokens, trained on the "
        "training split. Encoding a plain string prepends `<s>`. Special tokens: "
        + ", ".join(f"`{t}` = {i}" for t, i in ids.items()) + ". The chat template (Jinja, in "
        "`tokenizer_config.json`) is:",
        "",
        "```jinja",
        CHAT_TEMPLATE,
        "```",
        "",
        "The models never saw chat-formatted text, so the template only fixes the format for the engine.",
        "",
        "## ONNX drafts",
        "",
        "`onnx/model.onnx` (opset 17, float32) takes `input_ids` [batch, seq] int64, `attention_mask` "
        "[batch, past+seq] int64 (1 = attend), `position_ids` [batch, seq] int64 and, per layer i, "
        f"`past_key_values.{{i}}.key` / `.value` [batch, {p.draft_args.num_key_value_heads}, past, "
        f"{p.draft_args.head_dim}] float32 (past may be 0: pass empty tensors); it returns `logits` "
        f"[batch, seq, {p.draft_args.vocab_size}] float32 and `present.{{i}}.key` / `.value` "
        f"[batch, {p.draft_args.num_key_value_heads}, past+seq, {p.draft_args.head_dim}]. Causal masking "
        "is built inside the graph. `onnx/expected.json` holds, for a few fixed prompts (token ids), the greedy "
        "next id from ONNX and PyTorch, the top-5 logits, an 8-token greedy continuation through the ONNX KV "
        "cache, and the target's 16-token greedy continuation (PyTorch, float32).",
        "",
        "## Architecture",
        "",
        "Llama: RMSNorm (eps 1e-5), rotate-half RoPE (theta 10000), SwiGLU MLP, grouped-query attention, "
        f"no biases, tied input/output embeddings, vocabulary {p.target_args.vocab_size}, trained with "
        f"context {SEQ_LEN} (`max_position_embeddings` {p.target_args.max_position_embeddings}).",
        "",
        "| model | parameters | layers | hidden | MLP | heads | KV heads | head dim |",
        "|---|---|---|---|---|---|---|---|",
        arch_row("target", p.target_args, params["target"]),
        arch_row("draft", p.draft_args, params["draft"]),
        arch_row("draft-weak", p.draft_args, params["draft-weak"]),
        "",
        "## Training",
        "",
        f"AdamW (betas 0.9/0.95, weight decay 0.1 on matrices), linear warm-up then cosine decay to 10% of the "
        f"peak learning rate, gradient clipping 1.0, bf16 autocast on CPU, seed {seed}. The draft is first "
        "pretrained on next-token loss, then distilled: forward KL from the target's next-token distribution "
        "on the same kind of batches (distill), then distilled further on what speculative decoding verifies "
        f"(distill2): the target's own greedy continuations ({cont.new_tokens} tokens) of {cont.prompts:,} random "
        f"{cont.prompt_len}-token windows of the training split, with forward KL to the target's logits at every "
        "position of each sequence (sequence-level distillation, as in DistillSpec). Every "
        f"{p.distill2.ckpt_every} distill2 steps the draft's acceptance on the held-out prompts of the Evaluation "
        "section is measured; the stage keeps the best checkpoint and stops at the first that reaches "
        f"{cont.stop_acceptance} (checkpoints, by step: "
        + ", ".join(f"{k}: {v}" for k, v in d2["scores"].items())
        + f"; kept: step {d2['best_step']}). The target's {d2['continuations']['sequences']:,} continuations took "
        f"{fmt_s(d2['continuations']['generation_seconds'])} to generate (included in the distill2 time).",
        "",
        "| stage | steps | batch | tokens | peak LR | final train loss (EMA) | time |",
        "|---|---|---|---|---|---|---|",
        sched_row("target", p.target, r["target"]),
        sched_row("draft (pretrain)", p.draft, r["draft"]),
        sched_row("draft (distill, KL)", p.distill, r["distill"]),
        sched_row("draft (distill2, KL on target continuations)", p.distill2, r["distill2"],
                  cont.prompt_len + cont.new_tokens - 1),
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['torch_threads']} torch threads, "
        f"no GPU; torch {machine['torch']}, Python {machine['python']}. "
        + (f"Whole pipeline (data, tokenizer, training, export, checks, evaluation): {fmt_s(r['total_seconds'])}. "
           if not adopted else
           f"This run's stages (data, tokenizer, distill2, export, checks, evaluation): {fmt_s(r['total_seconds'])}. ")
        + f"The machine was shared (15-minute load average {machine['load_avg_15min']} on {machine['cores']} "
        "cores when the run ended), so these times are upper bounds; the tool's README gives idle-machine speeds.",
        "",
        *([] if not adopted else [
            "This run continued the earlier one from its export (`pipeline.py --adopt-export`): its "
            f"{', '.join(adopted[:-1])} and {adopted[-1]} stages were adopted, not rerun. The target, the KL-distilled draft (distill2's starting point) and the weak "
            "draft are that run's exported float32 weights, unchanged; the rows marked"
            f"{EARLIER} show that run's figures, measured on {r['target']['machine']['cpu']} "
            f"({r['target']['machine']['cores']} cores, {r['target']['machine']['torch_threads']} torch threads, "
            f"15-minute load average {r['target']['machine']['load_avg_15min']} when that run ended); its adopted training stages took "
            f"{fmt_s(r['adopted_seconds'])}.", ""]),
        "## Evaluation",
        "",
        f"Validation loss: mean next-token cross-entropy (nats) over {p.val_windows} windows of {SEQ_LEN} "
        "held-out tokens, float32.",
        "",
        "| model | validation loss |",
        "|---|---|",
        *[f"| {n}{EARLIER if n in carried else ''} | {v} |" for n, v in ev["val_loss"].items()],
        "",
        f"Acceptance: greedy speculative decoding against the target, {p.draft_len} drafted tokens at a time, "
        f"{p.acceptance_prompts} held-out prompts of 32 tokens, {p.acceptance_new_tokens} new tokens each. "
        "Acceptance = accepted drafted tokens / drafted tokens.",
        "",
        "| draft | acceptance | accepted / drafted | tokens per target pass |",
        "|---|---|---|---|",
        *[f"| {n}{EARLIER if n in carried else ''} | **{a['acceptance']}** | {a['accepted']} / {a['drafted']} | "
          f"{a['tokens_per_target_pass']} |" for n, a in acc.items()],
        "",
        "`draft-before-distill` is the pretrained draft, `draft-before-distill2` the draft after the KL stage "
        "only. distill2 chose its checkpoint on these prompts, so as a check free of that choice, on "
        f"{p.acceptance_prompts} other held-out prompts (the middles of {p.acceptance_prompts} equal slices of the "
        "validation tokens, sharing no token with the prompts above): "
        + ", ".join(f"{n} {a['acceptance']} ({a['accepted']} / {a['drafted']})"
                    for n, a in ev["acceptance_second_set"].items()) + ".",
        "",
        f"distill2 moved the draft's acceptance from {acc['draft-before-distill2']['acceptance']} to "
        f"{acc['draft']['acceptance']} and its validation loss on held-out text from "
        f"{ev['val_loss']['draft-before-distill2']} to {ev['val_loss']['draft']}: it trades some fit to "
        "the corpus for agreement with the target on the target's own text.",
        "",
        "Weak-draft candidates (acceptance of early draft checkpoints, by step): "
        + ", ".join(f"{s}: {v}" for s, v in r["weak"]["candidates"].items())
        + f"; the most-trained one below {p.weak_max_acceptance} was kept"
        + (f"{EARLIER}." if "weak" in adopted else "."),
        "",
        "Export checks (max abs difference of logits, float32):",
        "",
        "| model | transformers vs training code | ONNX, empty past | ONNX, with past | ONNX, left-padded batch |",
        "|---|---|---|---|---|",
    ]
    for n, c in r["export"]["checks"].items():
        cells = [c.get(k) for k in ("transformers_max_abs_err", "max_abs_err_empty_past",
                                    "max_abs_err_with_past", "max_abs_err_left_padded_batch")]
        lines.append(f"| {n} | " + " | ".join("-" if v is None else f"{v:.2e}" for v in cells) + " |")
    lines += ["", "## Samples (target, 64 new tokens)", ""]
    for s in ev["samples"]:
        lines += [f"**{s['prompt']}**", "", f"- temperature 0: {quote(s['prompt'] + s['t0'])}",
                  f"- temperature 0.8: {quote(s['prompt'] + s['t08'])}", ""]
    lines += [
        "## Files",
        "",
        "`manifest.json` lists the SHA-256 and size of every file in this folder. "
        "`../default.json` names this pair as pipemesh's default.",
        "",
        "## Limitations",
        "",
        "A few million parameters trained for minutes on 17 MB of 19th-century-flavoured text: expect archaic, "
        "biblical or political phrasing, no factual knowledge, and loops at temperature 0. Use it to exercise the "
        "engine, never for anything that needs a correct answer.",
        "",
    ]
    if "gguf" in r:  # the Q8_0 GGUF files and their evaluation, just before the export checks
        from export_gguf import card_lines

        at = next(i for i, line in enumerate(lines) if line.startswith("Export checks (max abs"))
        lines[at:at] = card_lines(r["gguf"], p)
    (out / "MODEL_CARD.md").write_text("\n".join(lines))


def quote(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def write_manifest(out: Path) -> dict:
    files = {}
    for f in sorted(out.rglob("*")):
        rel = f.relative_to(out).as_posix()
        if f.is_file() and rel != "manifest.json":
            files[rel] = {"sha256": hashlib.sha256(f.read_bytes()).hexdigest(), "size": f.stat().st_size}
    (out / "manifest.json").write_text(json.dumps(files, indent=2) + "\n")
    return files
