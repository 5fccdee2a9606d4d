"""Transfer learning on MNIST with the Keras face: pretrain, freeze the base, fine-tune a new head.

    python -m minigrad.examples.finetune                    # defaults below
    python -m minigrad.examples.finetune --limit 2000 --finetune-samples 200 --pretrain-epochs 1

1. Pretrain the CNN (conv base + Dense head) on the digits 0-4.
2. Freeze the conv base (`base.trainable = False`), put a new head on it for the digits
   5-9 (relabelled 0-4), and fine-tune only the head on a small subset (500 images).
3. Train the same network from scratch on the same small subset, for comparison.

It prints the test accuracy on 5-9 of the fine-tuned model before fine-tuning (new random
head), after it, and of the from-scratch model: features learnt on 0-4 carry over, so the
frozen base usually beats training from scratch on so little data.
"""
import argparse
import time

import numpy as np

import minigrad as tf
from minigrad.keras import layers
from minigrad.keras.datasets import mnist


def make_base():
    """The conv feature extractor: (N, 28, 28, 1) -> (N, 1600)."""
    return tf.keras.Sequential([
        layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
    ], name="conv_base")


def make_classifier(base, classes=5):
    """base + a fresh head: Dense(128, relu) -> Dense(classes, softmax)."""
    model = tf.keras.Sequential([base, layers.Dense(128, activation="relu"),
                                 layers.Dense(classes, activation="softmax")])
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def split_digits(x, y, digits):
    keep = np.isin(y, digits)
    return x[keep], (y[keep] - min(digits)).astype(np.int64)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m minigrad.examples.finetune",
                                description="Pretrain on digits 0-4, freeze the conv base, fine-tune on 5-9.")
    p.add_argument("--pretrain-epochs", type=int, default=1)
    p.add_argument("--finetune-epochs", type=int, default=10)
    p.add_argument("--finetune-samples", type=int, default=500, help="size of the small 5-9 training set")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--data-dir", default=None, help="folder with MNIST's .gz files (default $MINIGRAD_DATA_DIR)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N train and N test images")
    p.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2])
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    tf.keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = mnist.load_data(args.data_dir)
    if args.limit:
        x_train, y_train, x_test, y_test = x_train[:args.limit], y_train[:args.limit], x_test[:args.limit], \
            y_test[:args.limit]
    x_train = x_train.reshape(-1, 28, 28, 1).astype("float32") / 255
    x_test = x_test.reshape(-1, 28, 28, 1).astype("float32") / 255
    xa, ya = split_digits(x_train, y_train, [0, 1, 2, 3, 4])
    xa_test, ya_test = split_digits(x_test, y_test, [0, 1, 2, 3, 4])
    xb, yb = split_digits(x_train, y_train, [5, 6, 7, 8, 9])
    xb_test, yb_test = split_digits(x_test, y_test, [5, 6, 7, 8, 9])
    small = np.random.default_rng(args.seed).permutation(len(xb))[:args.finetune_samples]
    xb_small, yb_small = xb[small], yb[small]
    print(f"pretraining set (digits 0-4): {len(xa)} images; fine-tuning set (digits 5-9): {len(xb_small)} images; "
          f"test sets: {len(xa_test)} / {len(xb_test)}")

    # 1. pretrain on 0-4
    start = time.perf_counter()
    base = make_base()
    pretrained = make_classifier(base)
    pretrained.fit(xa, ya, epochs=args.pretrain_epochs, batch_size=args.batch_size, verbose=args.verbose)
    _, acc_a = pretrained.evaluate(xa_test, ya_test, batch_size=500, verbose=0)
    print(f"[pretrain] digits 0-4 test accuracy: {100 * acc_a:.2f}% ({time.perf_counter() - start:.1f} s)")

    # 2. freeze the base, new head for 5-9, fine-tune the head on the small set
    base.trainable = False
    finetuned = make_classifier(base)
    _, acc_before = finetuned.evaluate(xb_test, yb_test, batch_size=500, verbose=0)
    frozen = sum(int(np.prod(w.shape)) for w in finetuned.non_trainable_weights)
    trainable = sum(int(np.prod(w.shape)) for w in finetuned.trainable_weights)
    print(f"[finetune] base frozen: {frozen:,} frozen / {trainable:,} trainable parameters")
    base_before = [w.copy() for w in base.get_weights()]
    finetuned.fit(xb_small, yb_small, epochs=args.finetune_epochs, batch_size=args.batch_size, verbose=args.verbose)
    _, acc_after = finetuned.evaluate(xb_test, yb_test, batch_size=500, verbose=0)
    unchanged = all(np.array_equal(a, b) for a, b in zip(base_before, base.get_weights()))

    # 3. the same network from scratch on the same small set
    tf.keras.utils.set_random_seed(args.seed + 1)
    scratch = make_classifier(make_base())
    scratch.fit(xb_small, yb_small, epochs=args.finetune_epochs, batch_size=args.batch_size, verbose=args.verbose)
    _, acc_scratch = scratch.evaluate(xb_test, yb_test, batch_size=500, verbose=0)

    print("\nDigits 5-9 test accuracy")
    print(f"  pretrained base + new head, before fine-tuning : {100 * acc_before:6.2f}%")
    print(f"  pretrained base + new head, after fine-tuning  : {100 * acc_after:6.2f}%  "
          f"(base weights unchanged: {unchanged})")
    print(f"  same network trained from scratch               : {100 * acc_scratch:6.2f}%")
    print(f"  ({len(xb_small)} training images, {args.finetune_epochs} epochs; "
          f"total time {time.perf_counter() - start:.1f} s)")
    return {"pretrain_accuracy": acc_a, "before": acc_before, "after": acc_after, "scratch": acc_scratch,
            "base_unchanged": unchanged}


if __name__ == "__main__":
    main()
