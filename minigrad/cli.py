"""The `minigrad` command.

    minigrad train cnn [--epochs 5 --batch-size 64 --limit N ...]   # PyTorch-style MNIST CNN (the main job)
    minigrad train keras-cnn [--epochs 5 ...]                         # the same CNN through minigrad.keras
    minigrad train finetune [--finetune-samples 500 ...]              # pretrain 0-4, freeze, fine-tune 5-9
    minigrad train gpt [--iters 2000 --checkpoint PATH --resume PATH]  # GPT on tiny Shakespeare
    minigrad info                                                     # version, backend, devices
    minigrad warmup                                                   # compile the Numba kernels now
    minigrad train cnn --help                                         # each example's own options
"""
import argparse
import importlib
import sys

EXAMPLES = {
    "cnn": ("minigrad.examples.mnist_cnn", "MNIST CNN with minigrad.nn + optim + DataLoader (the main job)"),
    "keras-cnn": ("minigrad.examples.mnist_keras", "the seeds' Keras CNN through minigrad.keras"),
    "finetune": ("minigrad.examples.finetune", "pretrain on digits 0-4, freeze the base, fine-tune on 5-9"),
    "gpt": ("minigrad.examples.gpt_shakespeare", "a character-level GPT on tiny Shakespeare (nanoGPT's CPU recipe)"),
}


def _parser():
    p = argparse.ArgumentParser(prog="minigrad", description="minigrad: a readable deep-learning engine.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="examples:\n  minigrad train cnn --epochs 5\n"
                                       "  minigrad train cnn --limit 512 --epochs 1\n  minigrad train keras-cnn --help")
    sub = p.add_subparsers(dest="command", metavar="{train,info,warmup}")
    t = sub.add_parser("train", help="train one of the examples", add_help=False,
                       description="train one of the examples; options after the name go to that example "
                                   "(see `minigrad train NAME --help`)")
    t.add_argument("name", nargs="?", choices=sorted(EXAMPLES), metavar="{" + ",".join(EXAMPLES) + "}",
                   help="; ".join(f"{k}: {v[1]}" for k, v in EXAMPLES.items()))
    t.add_argument("rest", nargs=argparse.REMAINDER, help="options for the example")
    sub.add_parser("info", help="print the version, CPU backend and devices")
    sub.add_parser("warmup", help="compile the Numba kernels into their on-disk cache (once per install)")
    return p, t


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, train_parser = _parser()
    if argv[:1] == ["train"] and (len(argv) == 1 or argv[1] in ("-h", "--help")):
        train_parser.print_help()
        return 0
    args = parser.parse_args(argv)
    if args.command == "train":
        module = importlib.import_module(EXAMPLES[args.name][0])
        module.main(args.rest)
        return 0
    if args.command == "warmup":
        from minigrad.backend import warmup
        return warmup.main([])
    if args.command == "info":
        import minigrad as mg
        print(f"minigrad {mg.__version__}")
        print(f"CPU backend: {mg.get_backend_name()}")
        try:
            available = mg.cuda.is_available()
        except Exception:  # noqa: BLE001 -- any CUDA trouble just means "no GPU"
            available = False
        print(f"CUDA available: {available}")
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
