"""Train the seeds' MNIST CNN with the PyTorch-style API, on the CPU (or a GPU), end to end.

    python -m minigrad.examples.mnist_cnn --epochs 5 --batch-size 64
    python -m minigrad.examples.mnist_cnn --limit 512 --epochs 1      # a quick smoke run
    python -m minigrad.examples.mnist_cnn --compile                   # the step captured and replayed

The network (for 1x28x28 inputs):
    Conv2d(1, 32, 3) -> ReLU -> MaxPool2d(2)       (N, 32, 13, 13)
    Conv2d(32, 64, 3) -> ReLU -> MaxPool2d(2)      (N, 64, 5, 5)
    Flatten -> Linear(1600, 128) -> ReLU -> Linear(128, 10)
trained with Adam (lr 1e-3), batch 64, cross-entropy, inputs normalised with MNIST's
mean and std (0.1307, 0.3081). The learning rate follows `--schedule` (default: cosine
decay over all iterations, which steadies the last epochs).

On a first run with an empty kernel cache, Numba compiles the kernels during the first step
(the bar says "compiling kernels (first run only)..."); `make` does that at install time
instead (`python -m minigrad.backend.warmup`). Each epoch prints the mean training loss,
the test accuracy, images/s and the wall time; at the end the weights (safetensors), a plot
of the loss and accuracy curves (PNG) and the figures (metrics.json) go to --out (default
runs/mnist_cnn).

Checkpoints: every --checkpoint-every steps and at each epoch's end, the model, optimiser, random
state and the DataLoader's position go to --checkpoint (default <out>/checkpoint.safetensors, one
pickle-free file written atomically). After a crash, the same command with --resume continues from
it and ends bit-identical to an uninterrupted run, on the same backend with the same thread count
(NUMBA_NUM_THREADS / OMP_NUM_THREADS): parallel reductions add in an order that depends on them.

MNIST comes from --data-dir, else $MINIGRAD_DATA_DIR, else ~/.cache/minigrad (the four
.gz files, in that folder or its mnist/ subfolder); --download fetches what is missing.

Note: the seed's PyTorch code has no ReLU after its convolutions and uses F without
importing it; this script uses the fixed network described above.
"""
import argparse
import contextlib
import json
import math
import os
import resource
import sys
import threading
import time

import numpy as np

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
import minigrad.optim as optim
from minigrad.utils.data import DataLoader, Subset
from minigrad.vision import datasets, transforms

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)


class CNN(nn.Module):
    """The seeds' CNN. x: (N, 1, 28, 28) -> logits (N, 10)."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.pool2 = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(64 * 5 * 5, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.pool1(F.relu(self.conv1(x)))   # (N, 32, 13, 13)
        x = self.pool2(F.relu(self.conv2(x)))   # (N, 64, 5, 5)
        x = x.reshape(x.shape[0], -1)           # (N, 1600)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


def lr_at(schedule, base_lr, step, total_steps):
    """The learning rate for optimiser step `step` (0-based) of `total_steps`."""
    t = step / max(1, total_steps)
    if schedule == "none":
        return base_lr
    if schedule == "cosine":  # from base_lr down to 2% of it
        return base_lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))
    if schedule == "onecycle":  # 15% linear warm-up from base/10, then cosine down to base/100
        if t < 0.15:
            return base_lr * (0.1 + 0.9 * t / 0.15)
        u = (t - 0.15) / 0.85
        return base_lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * u)))
    if schedule == "step":  # halve every epoch-fifth of the run
        return base_lr * 0.5 ** int(t * 5)
    raise ValueError(f"unknown schedule {schedule!r}")


@contextlib.contextmanager
def compile_notice(bar=None, after=1.0):
    """Around the first training step (and the first evaluation): if it runs longer than `after` seconds,
    Numba is compiling kernels (the on-disk cache was cold), so say so instead of showing a stalled bar.
    A timer thread prints the note; nothing is printed when the kernels came from the cache."""
    message = "compiling kernels (first run only)..."
    said = []

    def say():
        said.append(True)
        if bar is not None:
            bar.set_postfix_str(message, refresh=True)
        else:
            print(message, flush=True)

    timer = threading.Timer(after, say)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        if said and bar is not None:
            bar.set_postfix_str("", refresh=False)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m minigrad.examples.mnist_cnn",
                                description="Train the MNIST CNN (PyTorch-style minigrad API).")
    p.add_argument("--epochs", type=int, default=5, help="passes over the training set (default 5)")
    p.add_argument("--batch-size", type=int, default=64, help="mini-batch size (default 64)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--schedule", choices=["cosine", "onecycle", "step", "none"], default="cosine",
                   help="learning-rate schedule over all iterations (default cosine)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--data-dir", default=None, help="folder with MNIST's .gz files (default $MINIGRAD_DATA_DIR)")
    p.add_argument("--download", action="store_true", help="download MNIST if it is missing")
    p.add_argument("--limit", type=int, default=None,
                   help="train on the first N training images and test on the first N test images (quick runs)")
    p.add_argument("--out", default=os.path.join("runs", "mnist_cnn"), help="output folder (default runs/mnist_cnn)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint file (default <out>/checkpoint.safetensors)")
    p.add_argument("--checkpoint-every", type=int, default=500,
                   help="also checkpoint every N optimiser steps (default 500; 0: only at epoch ends)")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    p.add_argument("--compile", action="store_true",
                   help="capture the training step once and replay it (minigrad.compile; same results, faster)")
    return p.parse_args(argv)


def load_data(args):
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MNIST_MEAN, MNIST_STD)])
    train = datasets.MNIST(args.data_dir, train=True, download=args.download, transform=tf)
    test = datasets.MNIST(args.data_dir, train=False, download=args.download, transform=tf)
    if args.limit:
        train = Subset(train, np.arange(min(args.limit, len(train))))
        test = Subset(test, np.arange(min(args.limit, len(test))))
    return train, test


def evaluate(model, loader, device):
    """-> (mean loss, accuracy) over the loader, in eval mode without a graph."""
    model.eval()
    correct, total, loss_sum = 0, 0, 0.0
    with mg.no_grad():
        for data, target in loader:
            data, target = data.to(device), target.to(device)
            out = model(data)
            loss_sum += float(F.cross_entropy(out, target, reduction="sum").item())
            correct += int((out.argmax(1) == target).numpy().sum())
            total += len(target)
    model.train()
    return loss_sum / max(total, 1), correct / max(total, 1)


def save_plot(path, step_losses, steps_per_epoch, epochs_log):
    """Training loss per step (and its running mean) plus test accuracy per epoch, as a PNG."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the plot (pip install matplotlib)")
        return None
    losses = np.asarray(step_losses)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(1, len(losses) + 1) / max(1, steps_per_epoch)
    ax1.plot(x, losses, alpha=0.3, lw=0.8, label="batch loss")
    k = max(1, min(50, len(losses) // 10))
    if k > 1 and len(losses) >= k:
        smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
        ax1.plot(x[k - 1:], smooth, lw=1.5, label=f"mean of {k} batches")
    ax1.set_yscale("log")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss")
    ax1.grid(alpha=0.3)
    ax1.legend()
    ep = [e["epoch"] for e in epochs_log]
    ax2.plot(ep, [100 * e["test_accuracy"] for e in epochs_log], "o-", label="test accuracy")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (%)")
    ax2.grid(alpha=0.3)
    ax2.legend()
    fig.suptitle("minigrad MNIST CNN")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


_RUN_KEYS = ("epochs", "batch_size", "lr", "schedule", "limit", "seed")  # must match to resume


def save_checkpoint(path, args, model, optimizer, loader, progress):
    """Everything the loop needs to continue exactly: progress holds epoch, step, in_epoch, sums, logs."""
    mg.save({"run": {k: getattr(args, k) for k in _RUN_KEYS}, "model": model.state_dict(),
             "optimizer": optimizer.state_dict(), "loader": loader.state_dict(), "rng": mg.get_rng_state(),
             **progress, "step_losses": np.asarray(progress["step_losses"], dtype=np.float64)}, path)


def load_checkpoint(path, args, model, optimizer, loader):
    """Restore what save_checkpoint wrote; returns its progress dict."""
    ck = mg.load(path)
    saved = ck.get("run", {})
    mismatched = {k: (saved.get(k), getattr(args, k)) for k in _RUN_KEYS if saved.get(k) != getattr(args, k)}
    if mismatched:
        raise SystemExit(f"--resume: {path} was written by a run with other settings "
                         f"(saved, now): {mismatched}")
    model.load_state_dict(ck.pop("model"))
    optimizer.load_state_dict(ck.pop("optimizer"))
    loader.load_state_dict(ck.pop("loader"))
    mg.set_rng_state(ck.pop("rng"))
    ck["step_losses"] = [float(v) for v in ck["step_losses"]]
    return ck


def main(argv=None):
    args = parse_args(argv)
    if args.checkpoint_every < 0:
        raise SystemExit(f"--checkpoint-every must be >= 0, got {args.checkpoint_every}")
    checkpoint = args.checkpoint or os.path.join(args.out, "checkpoint.safetensors")
    mg.manual_seed(args.seed)
    device = mg.device(args.device)
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    show = tqdm is not None and not args.no_progress

    train_set, test_set = load_data(args)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, generator=args.seed)
    test_loader = DataLoader(test_set, batch_size=1000, shuffle=False)

    model = CNN().to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"minigrad {mg.__version__} | backend {mg.get_backend_name()} | device {device} | "
          f"{len(train_set)} train / {len(test_set)} test images | {n_params:,} parameters")
    print(f"Adam lr={args.lr:g} schedule={args.schedule} batch={args.batch_size} epochs={args.epochs}")

    def train_step(data, target):
        optimizer.zero_grad()
        loss = criterion(model(data), target)
        loss.backward()
        optimizer.step()
        return loss

    if args.compile:  # one capture per batch shape (the last, smaller batch gets its own)
        train_step = mg.compile(train_step)

    total_steps = args.epochs * len(train_loader)
    progress = {"epoch": 1, "in_epoch": False, "step": 0, "seen": 0, "loss_sum": 0.0, "step_losses": [],
                "epochs_log": []}
    if args.resume and os.path.exists(checkpoint):
        progress = load_checkpoint(checkpoint, args, model, optimizer, train_loader)
        print(f"resumed from {checkpoint}: epoch {progress['epoch']}, step {progress['step']}")
    elif args.resume:
        print(f"--resume: no checkpoint at {checkpoint} yet, starting from scratch")
    os.makedirs(os.path.dirname(os.path.abspath(checkpoint)), exist_ok=True)
    step, step_losses, epochs_log = progress["step"], progress["step_losses"], progress["epochs_log"]
    run_start = time.perf_counter()
    for epoch in range(progress["epoch"], args.epochs + 1):
        model.train()
        start, seen, loss_sum = time.perf_counter(), 0, 0.0
        if progress["in_epoch"]:  # resuming mid-epoch: the loader continues at the next batch
            seen, loss_sum, progress["in_epoch"] = progress["seen"], progress["loss_sum"], False
        seen_before, done_before = seen, step - (epoch - 1) * len(train_loader)
        lr = lr_at(args.schedule, args.lr, step, total_steps)
        bar = tqdm(total=len(train_loader), desc=f"epoch {epoch}/{args.epochs}", unit="batch",
                   initial=done_before, dynamic_ncols=True, mininterval=0.5) if show else None
        for data, target in train_loader:
            data, target = data.to(device), target.to(device)
            lr = lr_at(args.schedule, args.lr, step, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with compile_notice(bar) if step == 0 else contextlib.nullcontext():
                value = float(train_step(data, target).item())
            step_losses.append(value)
            loss_sum += value * len(target)
            seen += len(target)
            step += 1
            if args.checkpoint_every and step % args.checkpoint_every == 0:
                save_checkpoint(checkpoint, args, model, optimizer, train_loader,
                                {"epoch": epoch, "in_epoch": True, "step": step, "seen": seen, "loss_sum": loss_sum,
                                 "step_losses": step_losses, "epochs_log": epochs_log})
            if bar is not None:
                bar.update(1)
                if step % 20 == 0:
                    rate = (seen - seen_before) / (time.perf_counter() - start)
                    bar.set_postfix_str(f"loss={loss_sum / seen:.4f}, lr={lr:.2e}, {rate:,.0f} img/s", refresh=False)
        train_time = time.perf_counter() - start
        if bar is not None:
            bar.close()
        with compile_notice() if epoch == 1 else contextlib.nullcontext():
            test_loss, test_acc = evaluate(model, test_loader, device)
        epoch_time = time.perf_counter() - start
        record = {"epoch": epoch, "train_loss": loss_sum / max(seen, 1), "test_loss": test_loss,
                  "test_accuracy": test_acc, "train_images_per_s": (seen - seen_before) / max(train_time, 1e-9),
                  "train_time_s": train_time, "epoch_time_s": epoch_time, "lr_end": lr}
        epochs_log.append(record)
        print(f"epoch {epoch}/{args.epochs}: train loss {record['train_loss']:.4f} | test loss {test_loss:.4f} | "
              f"test accuracy {100 * test_acc:.2f}% | {record['train_images_per_s']:,.0f} img/s | "
              f"{epoch_time:.1f} s", flush=True)
        save_checkpoint(checkpoint, args, model, optimizer, train_loader,
                        {"epoch": epoch + 1, "in_epoch": False, "step": step, "seen": 0, "loss_sum": 0.0,
                         "step_losses": step_losses, "epochs_log": epochs_log})

    wall = time.perf_counter() - run_start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is in KB on Linux
    os.makedirs(args.out, exist_ok=True)
    weights_path = os.path.join(args.out, "mnist_cnn.safetensors")
    mg.save(model.state_dict(), weights_path)
    plot_path = save_plot(os.path.join(args.out, "loss.png"), step_losses, len(train_loader), epochs_log)
    summary = {"args": vars(args), "backend": mg.get_backend_name(), "epochs": epochs_log,
               "final_test_accuracy": epochs_log[-1]["test_accuracy"] if epochs_log else None,
               "wall_time_s": wall, "peak_rss_mb": peak_mb, "parameters": n_params,
               "weights": weights_path, "plot": plot_path}
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(summary, f, indent=2)
    if epochs_log:
        print(f"final test accuracy {100 * epochs_log[-1]['test_accuracy']:.2f}% | wall time {wall:.1f} s | "
              f"peak memory {peak_mb:.0f} MB")
    print(f"saved {weights_path}" + (f", {plot_path}" if plot_path else "") + f", {args.out}/metrics.json")
    return summary


if __name__ == "__main__":
    main()
    sys.exit(0)
