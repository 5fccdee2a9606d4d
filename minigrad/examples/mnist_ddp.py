"""Train the seeds' MNIST CNN on several processes with DistributedDataParallel.

    mpiexec -n 2 python -m minigrad.examples.mnist_ddp --epochs 5
    mpiexec -n 2 python -m minigrad.examples.mnist_ddp --limit 2048 --epochs 1     # a quick run
    mpiexec -n 8 -hostfile hosts python -m minigrad.examples.mnist_ddp            # several machines

What changes against the one-process example (minigrad.examples.mnist_cnn), line for line:
    dist.init_process_group("mpi")                 every rank joins the job mpiexec started
    DistributedSampler(train_set, seed=...)        each rank reads its own shard; set_epoch reshuffles
    DDP(model)                                     rank 0's weights everywhere, gradients averaged
    mg.manual_seed(seed + rank)                    per-rank randomness (the weights come from rank 0)
    if rank == 0: print / save                     one log, one checkpoint (written atomically)
--batch-size is per rank: one optimiser step sees batch_size * world_size images. --threads sets each
rank's kernel threads (default: this machine's cores / world size, right when all ranks share one
machine; on several machines pass the cores each rank may use).
"""
import argparse
import json
import os
import time

import numpy as np

import minigrad as mg
import minigrad.distributed as dist
import minigrad.nn.functional as F
import minigrad.optim as optim
from minigrad.examples.mnist_cnn import CNN, MNIST_MEAN, MNIST_STD, lr_at
from minigrad.nn.parallel import DistributedDataParallel as DDP
from minigrad.utils.data import DataLoader, DistributedSampler, Subset
from minigrad.vision import datasets, transforms


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="mpiexec -n N python -m minigrad.examples.mnist_ddp",
                                description="Train the MNIST CNN data-parallel over MPI ranks.")
    p.add_argument("--epochs", type=int, default=5, help="passes over the training set (default 5)")
    p.add_argument("--batch-size", type=int, default=64, help="images per rank per step (default 64)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--schedule", choices=["cosine", "onecycle", "step", "none"], default="cosine")
    p.add_argument("--threads", type=int, default=None, help="kernel threads per rank (default: cores / ranks)")
    p.add_argument("--bucket-cap-mb", type=float, default=25.0, help="gradient bucket size (default 25)")
    p.add_argument("--data-dir", default=None, help="folder with MNIST's .gz files (default $MINIGRAD_DATA_DIR)")
    p.add_argument("--download", action="store_true", help="download MNIST if it is missing (rank 0 first)")
    p.add_argument("--limit", type=int, default=None, help="use the first N training and test images")
    p.add_argument("--out", default=os.path.join("runs", "mnist_ddp"), help="output folder (rank 0 writes)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return p.parse_args(argv)


def load_data(args, rank):
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MNIST_MEAN, MNIST_STD)])
    if args.download and rank != 0:
        dist.barrier()  # rank 0 downloads alone, then the others read its files
    train = datasets.MNIST(args.data_dir, train=True, download=args.download, transform=tf)
    test = datasets.MNIST(args.data_dir, train=False, download=args.download, transform=tf)
    if args.download and rank == 0:
        dist.barrier()
    if args.limit:
        train = Subset(train, np.arange(min(args.limit, len(train))))
        test = Subset(test, np.arange(min(args.limit, len(test))))
    return train, test


def evaluate(model, test_set, rank, world):
    """(mean loss, accuracy) on the whole test set: each rank scores every world-th image, then the sums
    are added over the ranks."""
    model.eval()
    sums = np.zeros(3)  # loss sum, correct, count
    with mg.no_grad():
        for data, target in DataLoader(Subset(test_set, np.arange(rank, len(test_set), world)), batch_size=1000):
            out = model(data)
            sums += [float(F.cross_entropy(out, target, reduction="sum").item()),
                     int((out.argmax(1) == target).numpy().sum()), len(target)]
    model.train()
    total = mg.tensor(sums)
    dist.all_reduce(total)
    loss_sum, correct, count = total.tolist()
    return loss_sum / max(count, 1), correct / max(count, 1)


def save_atomically(text, path):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main(argv=None):
    args = parse_args(argv)
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    mg.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // world))
    mg.manual_seed(args.seed + rank)
    log = print if rank == 0 else (lambda *a, **k: None)

    train_set, test_set = load_data(args, rank)
    sampler = DistributedSampler(train_set, shuffle=True, seed=args.seed)
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler)
    model = DDP(CNN(), bucket_cap_mb=args.bucket_cap_mb)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    log(f"minigrad {mg.__version__} | {world} ranks x {mg.get_num_threads()} threads | {len(train_set)} train / "
        f"{len(test_set)} test images | batch {args.batch_size} per rank ({args.batch_size * world} per step)")

    total_steps, step, epochs_log = args.epochs * len(loader), 0, []
    for epoch in range(1, args.epochs + 1):
        sampler.set_epoch(epoch)
        start, loss_sum, seen = time.perf_counter(), 0.0, 0
        for data, target in loader:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(args.schedule, args.lr, step, total_steps)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(data), target)
            loss.backward()  # the gradients are averaged over the ranks during this call
            optimizer.step()
            loss_sum += float(loss.item()) * len(target)
            seen += len(target)
            step += 1
        train_time = time.perf_counter() - start
        totals = mg.tensor([loss_sum, float(seen)])
        dist.all_reduce(totals)
        test_loss, test_acc = evaluate(model.module, test_set, rank, world)
        record = {"epoch": epoch, "train_loss": totals[0].item() / totals[1].item(), "test_loss": test_loss,
                  "test_accuracy": test_acc, "train_images_per_s": totals[1].item() / train_time,
                  "comm_wait_s": model.reducer.wait_seconds}
        epochs_log.append(record)
        log(f"epoch {epoch}/{args.epochs}: train loss {record['train_loss']:.4f} | test loss {test_loss:.4f} | "
            f"test accuracy {100 * test_acc:.2f}% | {record['train_images_per_s']:,.0f} img/s (all ranks) | "
            f"{train_time:.1f} s", flush=True)

    if rank == 0:
        os.makedirs(args.out, exist_ok=True)
        weights = os.path.join(args.out, "mnist_cnn.safetensors")
        mg.save(model.module.state_dict(), weights)  # (mg.save writes a temporary file, then renames it)
        save_atomically(json.dumps({"args": vars(args), "world_size": world, "epochs": epochs_log}, indent=2),
                        os.path.join(args.out, "metrics.json"))
        log(f"saved {weights}, {args.out}/metrics.json")
    dist.destroy_process_group()
    return epochs_log


if __name__ == "__main__":
    main()
