"""Adapt a character GPT to one Shakespeare character's voice four ways, and compare them.

    python -m minigrad.examples.gpt_finetune                       # pretrain a base, then compare (the full run)
    python -m minigrad.examples.gpt_finetune --base runs/gpt_finetune/base   # reuse a saved base
    python -m minigrad.examples.gpt_finetune --pretrain-iters 20 --iters 10 --eval-interval 5   # smoke run

The data: tiny Shakespeare is a sequence of speeches, each opening with its speaker's heading
("DUKE VINCENTIO:"). Every speech of --character (default DUKE VINCENTIO, 193 speeches, 37k
characters) is held out of pretraining; the base GPT learns from the rest (first 90%; the last
10% measures "general" Shakespeare). The character's speeches are then split every fifth one to
validation, the rest to fine-tuning. The tokenizer's vocabulary comes from the whole file, so no
character of the held-out speeches is outside it (they are all seen in pretraining too: checked).

The four ways, each starting from the same base (except the last) and trained for --iters steps
on the same fine-tuning text with AdamW, warm-up and cosine decay:
  lora         LoRA adapters (rank --lora-r, alpha --lora-alpha) on --lora-targets, all else frozen
  last-blocks  the last --unfreeze blocks and the final LayerNorm train, the rest frozen
  full         every parameter trains
  scratch      a freshly initialised GPT of the same shape, trained on the fine-tuning text only
For each: trainable parameters, validation loss on the held-out speeches before and after (and
the best seen, with its iteration), the general Shakespeare loss after (what was forgotten),
training seconds, what has to be stored on disk to keep the result, and a fixed-seed sample.
Defaults: the base is gpt_shakespeare's model (4 layers, 128 wide, context 64, batch 12) after
1,000 iterations; each method then takes 200 iterations (about five passes over its 30k
characters) with dropout 0.1, peak learning rates 2e-3 (lora, r=8, alpha=16), 1e-3 (last-blocks,
scratch) and 5e-4 (full), decayed to a tenth. --base runs/gpt_shakespeare/model also works, but
that model was trained on the whole file, the held-out speeches included.
Results go to --out: results.json, results.md (the table and samples), base/ (the base model,
reusable with --base), and each method's saved adapter or checkpoint.
"""
import argparse
import json
import os
import re
import sys
import time
from types import SimpleNamespace

import numpy as np

import minigrad as mg
from minigrad import serialization
from minigrad.models import GPT, GPTConfig
from minigrad.nn.utils import apply_lora, merge_lora, save_lora
from minigrad.text import CharTokenizer, load_tinyshakespeare

from .gpt_shakespeare import batch, evaluate, lr_at

METHODS = ("lora", "last-blocks", "full", "scratch")
HEADING = re.compile(r"([A-Za-z][A-Za-z' ]*):(\n|$)")  # a few speeches are a heading alone


def _parser():
    p = argparse.ArgumentParser(prog="python -m minigrad.examples.gpt_finetune",
                                description="Fine-tune a character GPT to one Shakespeare character: LoRA, last "
                                            "blocks, full fine-tuning and training from scratch, compared.")
    a = p.add_argument
    a("--character", default="DUKE VINCENTIO", help="speaker whose speeches are held out (default DUKE VINCENTIO)")
    a("--base", default=None, help="a base GPT folder (save_pretrained output) instead of pretraining one; "
      "its tokenizer.json is looked for in it and in its parent folder")
    a("--methods", default=",".join(METHODS), help=f"comma-separated subset of {','.join(METHODS)}")
    a("--pretrain-iters", type=int, default=1000, help="pretraining iterations (default 1000)")
    a("--pretrain-lr", type=float, default=1e-3)
    a("--iters", type=int, default=200, help="fine-tuning iterations per method (default 200)")
    a("--lr", type=float, default=None, help="one learning rate for every method (default: each method's own)")
    a("--lr-lora", type=float, default=2e-3)
    a("--lr-last-blocks", type=float, default=1e-3)
    a("--lr-full", type=float, default=5e-4)
    a("--lr-scratch", type=float, default=1e-3)
    a("--lora-r", type=int, default=8)
    a("--lora-alpha", type=float, default=16)
    a("--lora-dropout", type=float, default=0.0)
    a("--lora-targets", default="c_attn", help="comma-separated module names to adapt (e.g. c_attn,c_proj)")
    a("--unfreeze", type=int, default=1, help="blocks left trainable by last-blocks (default 1)")
    a("--dropout", type=float, default=0.1, help="dropout while fine-tuning (default 0.1; pretraining uses none)")
    a("--batch-size", type=int, default=12)
    a("--block-size", type=int, default=64)
    a("--n-layer", type=int, default=4)
    a("--n-head", type=int, default=4)
    a("--n-embd", type=int, default=128)
    a("--weight-decay", type=float, default=0.1)
    a("--warmup", type=int, default=None, help="warm-up iterations (default 10%% of the run)")
    a("--grad-clip", type=float, default=1.0)
    a("--eval-interval", type=int, default=50, help="fine-tuning iterations between validation losses")
    a("--eval-batches", type=int, default=20, help="batches for the general Shakespeare loss (default 20)")
    a("--sample-tokens", type=int, default=300)
    a("--temperature", type=float, default=0.8)
    a("--top-k", type=int, default=200)
    a("--seed", type=int, default=1337)
    a("--data-dir", default=None, help="data folder (default $MINIGRAD_DATA_DIR, else ~/.cache/minigrad)")
    a("--download", action="store_true", help="download tiny Shakespeare if it is missing")
    a("--out", default=os.path.join("runs", "gpt_finetune"), help="output folder")
    return p


def split_speeches(text, character):
    """Tiny Shakespeare -> (the text without `character`'s speeches, their speeches as a list).

    Speeches are the blank-line separated paragraphs; each opens with "NAME:" on its own line (a few
    are that line alone: the speaker is cut short).
    """
    rest, held = [], []
    for para in text.split("\n\n"):
        m = HEADING.match(para)
        (held if m and m.group(1) == character else rest).append(para)
    if not held:
        names = {}
        for para in rest:
            m = HEADING.match(para)
            if m:
                names[m.group(1)] = names.get(m.group(1), 0) + 1
        top = ", ".join(sorted(names, key=names.get, reverse=True)[:5])
        raise ValueError(f"gpt_finetune: --character {character!r} has no speeches in tiny Shakespeare "
                         f"(headings are upper case; the most frequent are {top})")
    return "\n\n".join(rest), held


def _folder_bytes(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def _human(n):
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def _windows(n, T):
    """Offsets of consecutive (T + 1)-token windows covering a text of n tokens: each target scored once."""
    if n < T + 1:
        raise ValueError(f"gpt_finetune: a validation text of {n} tokens is shorter than block_size + 1 = {T + 1}")
    return np.arange(0, n - T, T)


def load_base(args, tok):
    """The base GPT from --base (its tokenizer must be the one built here) -> (model, tokenizer)."""
    for folder in (args.base, os.path.dirname(os.path.normpath(args.base))):
        path = os.path.join(folder, "tokenizer.json")
        if os.path.isfile(path):
            tok = CharTokenizer.load(path)
            break
    model = GPT.from_pretrained(args.base)
    if model.config.vocab_size != tok.vocab_size:
        raise ValueError(f"gpt_finetune: --base {args.base} has vocab_size {model.config.vocab_size}, but the "
                         f"character tokenizer has {tok.vocab_size}; pass a base trained on tiny Shakespeare's "
                         "characters (with its tokenizer.json)")
    return model, tok


def train(model, data, iters, lr, args, gen, on_eval=None):
    """AdamW on model's trainable parameters over random (B, T) windows of data; returns training seconds.

    on_eval(it) is called every --eval-interval iterations and at the end (not timed).
    """
    T, B = model.config.block_size, args.batch_size
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [g for g in model.param_groups(args.weight_decay) if g["params"]]
    opt = mg.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))
    warmup = args.warmup if args.warmup is not None else max(1, iters // 10)
    schedule = SimpleNamespace(lr=lr, min_lr=lr / 10, warmup=warmup, iters=iters)
    seconds = 0.0
    for it in range(iters + 1):
        if on_eval and (it % args.eval_interval == 0 or it == iters):
            on_eval(it)
        if it == iters:
            break
        t0 = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = lr_at(it, schedule)
        x, y = batch(data, gen.integers(0, len(data) - T, B), T)
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.grad_clip > 0:
            mg.nn.utils.clip_grad_norm_(params, args.grad_clip)
        opt.step()
        seconds += time.perf_counter() - t0
    return seconds


def prepare(method, base_dir, config, args):
    """A model for `method`, with only the parameters that method trains left requiring grad."""
    if method == "scratch":
        return GPT(GPTConfig(**{**config.to_dict(), "dropout": args.dropout}))
    model = GPT.from_pretrained(base_dir, dropout=args.dropout)
    if method == "lora":
        targets = [t for t in args.lora_targets.split(",") if t]
        apply_lora(model, args.lora_r, args.lora_alpha, targets, args.lora_dropout)
    elif method == "last-blocks":
        for p in model.parameters():
            p.requires_grad_(False)
        for m in list(model.transformer.h)[-args.unfreeze:] + [model.transformer.ln_f]:
            for p in m.parameters():
                p.requires_grad_(True)
    return model


def save_result(method, model, directory):
    """Store what keeping this result takes: the adapter, the unfrozen tensors, or the whole model."""
    if method == "lora":
        save_lora(model, directory)
    elif method == "last-blocks":
        os.makedirs(directory, exist_ok=True)
        trained = {n: p for n, p in model.named_parameters() if p.requires_grad}
        serialization.save(trained, os.path.join(directory, "trained_params.safetensors"))
    else:
        model.save_pretrained(directory)
    return _folder_bytes(directory)


def _check_args(args):
    methods = [m for m in args.methods.split(",") if m]
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"gpt_finetune: --methods must be a comma-separated subset of {METHODS}, got {args.methods!r}")
    for name in ("pretrain_iters", "iters"):
        if getattr(args, name) < 0:
            raise ValueError(f"gpt_finetune: --{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    for name in ("eval_interval", "batch_size", "unfreeze", "eval_batches"):
        if getattr(args, name) < 1:
            raise ValueError(f"gpt_finetune: --{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.unfreeze > args.n_layer and not args.base:
        raise ValueError(f"gpt_finetune: --unfreeze {args.unfreeze} is more than the {args.n_layer} blocks")
    return methods


def main(argv=None):
    args = _parser().parse_args(argv)
    methods = _check_args(args)
    mg.manual_seed(args.seed)
    text = load_tinyshakespeare(args.data_dir, download=args.download)
    tok = CharTokenizer.from_text(text)  # the whole file's characters
    rest, speeches = split_speeches(text, args.character)
    missing = sorted(set("".join(speeches)) - set(rest))
    if missing:
        print(f"note: characters {missing} occur only in the held-out speeches (their embeddings stay untrained)",
              file=sys.stderr)
    ft_train = "\n\n".join(s for i, s in enumerate(speeches) if i % 5 != 4) + "\n\n"
    ft_val = "\n\n".join(s for i, s in enumerate(speeches) if i % 5 == 4) + "\n\n"
    os.makedirs(args.out, exist_ok=True)
    base_dir = os.path.join(args.out, "base")

    t0 = time.perf_counter()
    if args.base:
        base, tok = load_base(args, tok)
        base_dir, pretrain_s = args.base, None
    else:
        config = GPTConfig(vocab_size=tok.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                           n_head=args.n_head, n_embd=args.n_embd)
        base = GPT(config)
    encode = lambda s: np.array(tok.encode(s), dtype=np.uint16)  # noqa: E731
    rest_ids = encode(rest)
    n = int(0.9 * len(rest_ids))
    pre_train, pre_val = rest_ids[:n], rest_ids[n:]
    ft_train_ids, ft_val_ids = encode(ft_train), encode(ft_val)
    config = base.config
    T, B = config.block_size, args.batch_size
    if args.unfreeze > config.n_layer:
        raise ValueError(f"gpt_finetune: --unfreeze {args.unfreeze} is more than the base's {config.n_layer} blocks")
    gen = mg.random.default_generator
    gen_val = np.random.default_rng(args.seed + 1)
    pre_val_starts = gen_val.integers(0, len(pre_val) - T, args.eval_batches * B)
    ft_val_starts = _windows(len(ft_val_ids), T)
    general = lambda m: evaluate(m, pre_val, pre_val_starts, T)  # noqa: E731
    target = lambda m: evaluate(m, ft_val_ids, ft_val_starts, T)  # noqa: E731
    print(f"{args.character}: {len(speeches)} speeches held out of pretraining; fine-tuning on {len(ft_train):,} "
          f"characters, validating on {len(ft_val):,}. Pretraining text: {len(pre_train):,} characters "
          f"(+{len(pre_val):,} general validation). Vocabulary {tok.vocab_size} (the whole file's).", file=sys.stderr)
    if not args.base:
        pretrain_s = train(base, pre_train, args.pretrain_iters, args.pretrain_lr,
                           SimpleNamespace(**{**vars(args), "warmup": min(100, max(1, args.pretrain_iters // 10))}),
                           gen, on_eval=lambda it: print(f"pretrain iter {it}", file=sys.stderr)
                           if it % 250 == 0 else None)
        base.save_pretrained(base_dir)
        tok.save(os.path.join(args.out, "tokenizer.json"))
    base_general, base_target = general(base), target(base)
    origin = f"loaded from {args.base}" if args.base else f"{pretrain_s:.0f} s of pretraining"
    print(f"base: general val loss {base_general:.4f}, {args.character} val loss {base_target:.4f} ({origin})",
          file=sys.stderr)

    prompt = mg.tensor([tok.encode(f"{args.character}:\n")])

    def sample(model):
        out = model.generate(prompt, args.sample_tokens, temperature=args.temperature, top_k=args.top_k,
                             generator=mg.Generator().manual_seed(args.seed))
        return tok.decode(out[0].numpy())

    total = base.get_num_params(non_embedding=False)
    rows = [{"method": "base (no fine-tuning)", "trainable": 0, "val_before": base_target, "val_after": base_target,
             "best": base_target, "best_iter": 0, "general_after": base_general, "seconds": pretrain_s,
             "saved_bytes": _folder_bytes(base_dir), "sample": sample(base)}]
    for method in methods:
        mg.manual_seed(args.seed)
        model = prepare(method, base_dir, config, args)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        curve = []

        def on_eval(it, model=model, curve=curve):
            curve.append((it, target(model)))
            print(f"{method} iter {it}: {args.character} val loss {curve[-1][1]:.4f}", file=sys.stderr)

        lr = args.lr if args.lr is not None else getattr(args, f"lr_{method.replace('-', '_')}")
        seconds = train(model, ft_train_ids, args.iters, lr, args, gen, on_eval)
        best_iter, best = min(curve, key=lambda c: c[1])
        saved = save_result(method, model, os.path.join(args.out, method))
        if method == "lora":
            merge_lora(model)  # inference at the base model's cost; the adapter was saved unmerged
        rows.append({"method": method, "trainable": trainable, "lr": lr, "val_before": curve[0][1],
                     "val_after": curve[-1][1], "best": best, "best_iter": best_iter, "curve": curve,
                     "general_after": general(model), "seconds": seconds, "saved_bytes": saved,
                     "sample": sample(model)})

    table = format_table(rows, total, args)
    print(table)
    for r in rows:
        print(f"\n--- {r['method']} ---\n{r['sample']}")
    summary = {"character": args.character, "speeches": len(speeches), "ft_train_chars": len(ft_train),
               "ft_val_chars": len(ft_val), "total_params": total, "rows": rows, "args": vars(args),
               "wall_seconds": round(time.perf_counter() - t0, 1)}
    _write(os.path.join(args.out, "results.json"), json.dumps(summary, indent=1))
    _write(os.path.join(args.out, "results.md"),
           table + "\n" + "".join(f"\n{r['method']}:\n```\n{r['sample']}\n```\n" for r in rows))
    return summary


def format_table(rows, total, args):
    """A Markdown table of the rows."""
    lines = [f"| method | trainable params | {args.character} val loss before -> after (best @ iter) | "
             "general val loss after | train s | to store |", "|---|---|---|---|---|---|"]
    for r in rows:
        share = f" ({100 * r['trainable'] / total:.1f}%)" if r["trainable"] else ""
        secs = "-" if r["seconds"] is None else f"{r['seconds']:.0f}"
        if r["method"].startswith("base"):
            secs += " (pretraining)" if r["seconds"] is not None else ""
        lines.append(f"| {r['method']} | {r['trainable']:,}{share} | {r['val_before']:.3f} -> {r['val_after']:.3f} "
                     f"({r['best']:.3f} @ {r['best_iter']}) | {r['general_after']:.3f} | {secs} | "
                     f"{_human(r['saved_bytes'])} |")
    return "\n".join(lines)


def _write(path, content):
    tmp = path + ".part"
    with open(tmp, "w") as f:
        f.write(content)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
