"""The seeds' Keras MNIST CNN (seed 003), run on minigrad with only the imports changed.

    python -m minigrad.examples.mnist_keras --epochs 5
    python -m minigrad.examples.mnist_keras --limit 1000 --epochs 1    # quick

Model (channels-last, like Keras):
    Conv2D(32, 3x3, relu) -> MaxPooling2D(2) -> Conv2D(64, 3x3, relu) -> MaxPooling2D(2)
    -> Flatten -> Dense(64, relu) -> Dense(10, softmax)
compiled with Adam() and categorical cross-entropy on one-hot labels, batch 64.
Writes weights (safetensors), the whole model (mnist_keras.keras), the History plot and a grid of test predictions to --out.
"""
import argparse
import os
import time

import minigrad as tf  # the seed's `import tensorflow as tf`
from minigrad.keras.datasets import mnist
from minigrad.keras.layers import Conv2D, Dense, Flatten, MaxPooling2D
from minigrad.keras.models import Sequential
from minigrad.keras.optimizers import Adam


def build_model(dense_units=64):
    model = Sequential()
    model.add(Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)))
    model.add(MaxPooling2D((2, 2)))
    model.add(Conv2D(64, (3, 3), activation='relu'))
    model.add(MaxPooling2D((2, 2)))
    model.add(Flatten())
    model.add(Dense(dense_units, activation='relu'))
    model.add(Dense(10, activation='softmax'))
    return model


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m minigrad.examples.mnist_keras",
                                description="Train seed 003's Keras CNN on MNIST through minigrad.keras.")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--dense", type=int, default=64, help="units of the hidden Dense layer (seed 003: 64)")
    p.add_argument("--data-dir", default=None, help="folder with MNIST's .gz files (default $MINIGRAD_DATA_DIR)")
    p.add_argument("--limit", type=int, default=None, help="use the first N train and N test images")
    p.add_argument("--validation-split", type=float, default=0.0)
    p.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2])
    p.add_argument("--out", default=os.path.join("runs", "mnist_keras"))
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    tf.keras.utils.set_random_seed(args.seed)

    # the seed's data preparation
    (train_images, train_labels), (test_images, test_labels) = mnist.load_data(args.data_dir)
    if args.limit:
        train_images, train_labels = train_images[:args.limit], train_labels[:args.limit]
        test_images, test_labels = test_images[:args.limit], test_labels[:args.limit]
    train_images = train_images.reshape((len(train_images), 28, 28, 1)).astype('float32') / 255
    test_images = test_images.reshape((len(test_images), 28, 28, 1)).astype('float32') / 255
    train_labels = tf.keras.utils.to_categorical(train_labels, 10)
    test_onehot = tf.keras.utils.to_categorical(test_labels, 10)

    model = build_model(args.dense)
    model.compile(optimizer=Adam(args.lr), loss='categorical_crossentropy', metrics=['accuracy'])
    model.summary()
    start = time.perf_counter()
    history = model.fit(train_images, train_labels, epochs=args.epochs, batch_size=args.batch_size,
                        validation_split=args.validation_split, verbose=args.verbose)
    train_time = time.perf_counter() - start
    test_loss, test_acc = model.evaluate(test_images, test_onehot, batch_size=500, verbose=0)
    n = len(train_images) * (1 - args.validation_split) * args.epochs
    print(f"test loss {test_loss:.4f} | test accuracy {100 * test_acc:.2f}% | "
          f"{n / train_time:,.0f} img/s | training {train_time:.1f} s")

    os.makedirs(args.out, exist_ok=True)
    model.save_weights(os.path.join(args.out, "mnist_keras.safetensors"))
    model.save(os.path.join(args.out, "mnist_keras.keras"))  # the whole model: keras.models.load_model reads it
    try:
        history.plot(path=os.path.join(args.out, "history.png"))
        from minigrad.viz_plots import show_images
        pred = model.predict(test_images[:24], batch_size=24)
        show_images(test_images[:24], test_labels[:24], pred, path=os.path.join(args.out, "predictions.png"))
    except ImportError as e:
        print(f"skipping plots: {e}")
    print(f"saved weights and plots to {args.out}")
    return {"test_accuracy": test_acc, "test_loss": test_loss, "history": history.history}


if __name__ == "__main__":
    main()
