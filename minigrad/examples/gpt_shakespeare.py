"""Train a character-level GPT on tiny Shakespeare (nanoGPT's CPU recipe), then sample from it.

    python -m minigrad.examples.gpt_shakespeare                    # the full run (2,000 iterations)
    python -m minigrad.examples.gpt_shakespeare --iters 20 --eval-interval 10 --eval-batches 4   # smoke run
    minigrad train gpt --checkpoint runs/gpt.ckpt                   # save a resumable checkpoint at each eval
    minigrad train gpt --resume runs/gpt.ckpt                       # carry on from it
    mpiexec -n 2 python -m minigrad.examples.gpt_shakespeare --ddp  # data-parallel over MPI ranks

The recipe (nanoGPT's config/train_shakespeare_char.py with its CPU settings): a GPT with 4 layers,
4 heads, 128 wide, context 64; batch 12; 2,000 iterations of AdamW (lr 1e-3, 100 warm-up steps,
cosine decay to 1e-4, betas (0.9, 0.99), weight decay 0.1 on the 2-D weights), gradient clipping
at 1.0, no dropout. Characters are the tokens (65 of them); the first 90% of the text trains,
the rest validates. Every --eval-interval iterations the validation loss is the mean over a
fixed set of --eval-batches batches (the same ones each time, so the curve is not noise).

At the end a fixed-seed sample is printed, and --out (default runs/gpt_shakespeare) receives
the model (config.json + model.safetensors, loadable by transformers' GPT2LMHeadModel), the
tokenizer (tokenizer.json), the sample (sample.txt) and the figures (metrics.json).

With --ddp (under mpiexec, see docs/distributed.md) every rank trains on --batch-size sequences of its
own per step (the global batch is batch_size x ranks), gradients are averaged by
DistributedDataParallel, the validation batches are shared out between the ranks, and only rank 0
prints and writes files. A rank's batches at iteration i come from a stream seeded by (seed, rank, i),
so a resumed data-parallel run draws the same batches it would have drawn.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

import minigrad as mg
from minigrad.models import GPT, GPTConfig
from minigrad.text import CharTokenizer, load_tinyshakespeare


def _parser():
    p = argparse.ArgumentParser(prog="python -m minigrad.examples.gpt_shakespeare",
                                description="Train a character-level GPT on tiny Shakespeare (nanoGPT's CPU recipe).")
    a = p.add_argument
    a("--iters", type=int, default=2000, help="training iterations (default 2000)")
    a("--batch-size", type=int, default=12, help="sequences per batch (default 12)")
    a("--block-size", type=int, default=64, help="context length (default 64)")
    a("--n-layer", type=int, default=4)
    a("--n-head", type=int, default=4)
    a("--n-embd", type=int, default=128)
    a("--dropout", type=float, default=0.0)
    a("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    a("--min-lr", type=float, default=1e-4, help="learning rate at the end of the cosine decay (default 1e-4)")
    a("--warmup", type=int, default=100, help="linear warm-up iterations (default 100)")
    a("--weight-decay", type=float, default=0.1)
    a("--beta2", type=float, default=0.99)
    a("--grad-clip", type=float, default=1.0, help="clip the gradient norm to this (0: no clipping)")
    a("--eval-interval", type=int, default=250, help="iterations between validation losses (default 250)")
    a("--eval-batches", type=int, default=200, help="fixed validation batches per estimate (default 200)")
    a("--sample-tokens", type=int, default=500, help="characters to sample at the end (default 500)")
    a("--temperature", type=float, default=0.8)
    a("--top-k", type=int, default=200)
    a("--seed", type=int, default=1337)
    a("--gradient-checkpointing", action="store_true", help="recompute each block's forward in backward")
    a("--data-dir", default=None, help="data folder (default $MINIGRAD_DATA_DIR, else ~/.cache/minigrad)")
    a("--download", action="store_true", help="download tiny Shakespeare if it is missing")
    a("--out", default=os.path.join("runs", "gpt_shakespeare"), help="output folder")
    a("--checkpoint", default=None, help="write a resumable checkpoint here at each evaluation")
    a("--resume", default=None, help="resume from a checkpoint written with --checkpoint")
    a("--stop-after", type=int, default=None, help="stop after this iteration (an evaluation point), as if "
      "interrupted; --resume carries on")
    a("--no-progress", action="store_true", help="no tqdm progress bar")
    a("--ddp", action="store_true", help="data-parallel over the MPI ranks mpiexec started")
    a("--threads", type=int, default=None, help="kernel threads per rank with --ddp (default: cores / ranks)")
    return p


def lr_at(it, args):
    """nanoGPT's schedule: linear warm-up, then cosine decay from lr to min_lr at the last iteration."""
    if it < args.warmup:
        return args.lr * (it + 1) / (args.warmup + 1)
    if it >= args.iters:
        return args.min_lr
    ratio = (it - args.warmup) / max(1, args.iters - args.warmup)
    return args.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (args.lr - args.min_lr)


def batch(data, starts, T):
    """data: 1-D int array; starts: (B,) offsets -> x, y: (B, T) int64 Tensors (y is x shifted by one)."""
    rows = starts[:, None] + np.arange(T + 1)[None, :]
    chunk = data[rows].astype(np.int64)
    return mg.tensor(chunk[:, :-1]), mg.tensor(chunk[:, 1:])


@mg.no_grad()
def evaluate(model, data, starts, T, per_pass=48, dist=None):
    """Mean loss over the fixed batches whose offsets are `starts` (run per_pass sequences at a time).

    With `dist` (minigrad.distributed, initialised) each rank takes every world_size-th sequence and
    the sums are added up across ranks: the same estimate, computed in parallel."""
    model.eval()
    total, mine = 0.0, starts if dist is None else starts[dist.get_rank()::dist.get_world_size()]
    for i in range(0, len(mine), per_pass):
        x, y = batch(data, mine[i:i + per_pass], T)
        _, loss = model(x, y)
        total += loss.item() * len(x)
    if dist is not None:
        acc = mg.tensor([total], dtype=mg.float64)
        dist.all_reduce(acc)
        total = acc.item()
    model.train()
    return total / len(starts)


def _progress(args, start, total):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    if tqdm is None or args.no_progress:
        return None
    return tqdm(total=total, initial=start, desc="gpt", unit="it", dynamic_ncols=True, mininterval=1.0)


def main(argv=None):
    args = _parser().parse_args(argv)
    dist, rank, world, info = None, 0, 1, sys.stderr  # info: where progress lines go
    if args.ddp:
        import minigrad.distributed as dist
        dist.init_process_group("mpi")
        rank, world = dist.get_rank(), dist.get_world_size()
        mg.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // world))
        if rank != 0:
            args.no_progress = True
            sys.stdout = info = open(os.devnull, "w")  # one log, rank 0's (errors still reach stderr)
    mg.manual_seed(args.seed)
    text = load_tinyshakespeare(args.data_dir, download=args.download)
    tok = CharTokenizer.from_text(text)
    data = np.array(tok.encode(text), dtype=np.uint16)
    n = int(0.9 * len(data))
    train, val = data[:n], data[n:]
    T, B = args.block_size, args.batch_size
    config = GPTConfig(vocab_size=tok.vocab_size, block_size=T, n_layer=args.n_layer, n_head=args.n_head,
                       n_embd=args.n_embd, dropout=args.dropout, gradient_checkpointing=args.gradient_checkpointing)
    model = GPT(config)
    opt = model.configure_optimizers(args.weight_decay, args.lr, betas=(0.9, args.beta2))
    train_model = model
    if dist is not None:
        from minigrad.nn.parallel import DistributedDataParallel
        train_model = DistributedDataParallel(model)  # rank 0's weights everywhere; gradients averaged
    # the validation batches are drawn once, from their own stream: every estimate sees the same ones
    val_starts = np.random.default_rng(args.seed + 1).integers(0, len(val) - T, args.eval_batches * B)
    history, start = [], 0
    if args.resume:
        ckpt = mg.load(args.resume)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        mg.set_rng_state(ckpt["rng"])
        start, history = int(ckpt["iter"]), json.loads(ckpt.get("history", "[]"))
        print(f"resumed from {args.resume} at iteration {start}", file=info)
    if world > 1:
        print(f"data-parallel: {world} ranks x {mg.get_num_threads()} threads, global batch {B * world}",
              file=info)
    print(f"GPT: {model.get_num_params() / 1e6:.2f}M parameters, vocab {tok.vocab_size}, {len(train):,} training "
          f"and {len(val):,} validation characters; {args.iters} iterations of {B}x{T} tokens", file=info)

    gen = mg.random.default_generator
    bar = _progress(args, start, args.iters)
    t_train, tokens_seen, smooth = 0.0, 0, None
    for it in range(start, args.iters + 1):
        resumed_here = args.resume and it == start  # that estimate is already in the history
        if (it % args.eval_interval == 0 or it == args.iters) and not resumed_here:
            t0 = time.perf_counter()
            val_loss = evaluate(model, val, val_starts, T, dist=dist)
            row = {"iter": it, "val_loss": round(val_loss, 4), "train_loss_recent": smooth and round(smooth, 4),
                   "tokens_per_s": round(tokens_seen / t_train) if t_train else None,
                   "eval_s": round(time.perf_counter() - t0, 1)}
            history.append(row)
            (bar.write if bar else print)(f"iter {it}: val loss {val_loss:.4f} (over {len(val_starts) // B} "
                                          f"batches), train loss ~{smooth or float('nan'):.4f}, "
                                          f"{row['tokens_per_s'] or 0} tokens/s")
            if args.checkpoint and it > start and rank == 0:
                mg.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "iter": it,
                         "rng": mg.get_rng_state(), "history": json.dumps(history)}, args.checkpoint)
        if it == args.iters or (args.stop_after is not None and it >= args.stop_after):
            break
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = lr_at(it, args)
        draw = gen if dist is None else np.random.default_rng((args.seed, rank, it))
        x, y = batch(train, draw.integers(0, len(train) - T, B), T)
        _, loss = train_model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.grad_clip > 0:
            mg.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        value = loss.item()
        t_train += time.perf_counter() - t0
        tokens_seen += B * T * world
        smooth = value if smooth is None else 0.9 * smooth + 0.1 * value
        if bar:
            bar.set_postfix(loss=f"{value:.4f}", tok_s=f"{tokens_seen / t_train:,.0f}", refresh=False)
            bar.update(1)
    if bar:
        bar.close()

    if dist is not None:
        dist.destroy_process_group()
        if rank != 0:
            return None
    prompt = mg.tensor([tok.encode("\n")])
    out = model.generate(prompt, args.sample_tokens, temperature=args.temperature, top_k=args.top_k,
                         generator=mg.Generator().manual_seed(args.seed))
    sample = tok.decode(out[0].numpy()[1:])
    print(sample)
    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(os.path.join(args.out, "model"))
    tok.save(os.path.join(args.out, "tokenizer.json"))
    with open(os.path.join(args.out, "sample.txt"), "w") as f:
        f.write(sample)
    metrics = {"history": history, "final_val_loss": history[-1]["val_loss"],
               "train_tokens_per_s": round(tokens_seen / t_train) if t_train else None,
               "train_seconds": round(t_train, 1), "config": config.to_dict(), "args": vars(args)}
    tmp = os.path.join(args.out, ".metrics.json.part")
    with open(tmp, "w") as f:
        json.dump(metrics, f, indent=1)
    os.replace(tmp, os.path.join(args.out, "metrics.json"))
    print(f"final validation loss {metrics['final_val_loss']:.4f}; {metrics['train_tokens_per_s']} training "
          f"tokens/s; saved to {args.out}", file=info)
    return metrics


if __name__ == "__main__":
    main()
