"""Sentiment of IMDB reviews with one Transformer block, written against the Keras face.

    python -m minigrad.examples.keras_text_transformer [--epochs 2]

The model uses what Keras's Transformer text-classification recipes use, so such code ports by changing
its imports to `from minigrad import keras` / `from minigrad.keras import layers, ops`:
subclassed `layers.Layer` blocks (a token + position embedding, a self-attention block with a
feed-forward part), `MultiHeadAttention`, `LayerNormalization`, `GlobalAveragePooling1D`,
`keras.utils.pad_sequences`, `ops.shape` / `ops.arange` and `keras.datasets.imdb`.
The data set is read from $MINIGRAD_DATA_DIR/imdb/imdb.npz or downloaded (checksum-verified) once.
"""
import argparse

from minigrad import keras
from minigrad.keras import layers, ops

VOCAB, MAX_WORDS = 20_000, 200   # keep the 20k most frequent words, the first 200 words of a review
WIDTH, HEADS, HIDDEN = 32, 2, 32  # embedding width, attention heads, feed-forward width


class Embed(layers.Layer):
    """Word ids (batch, words) -> word vector + position vector, (batch, words, width)."""

    def __init__(self, length, vocab, width):
        super().__init__()
        self.words = layers.Embedding(input_dim=vocab, output_dim=width)
        self.places = layers.Embedding(input_dim=length, output_dim=width)

    def call(self, ids):
        n = ops.shape(ids)[-1]
        return self.words(ids) + self.places(ops.arange(0, n, 1))


class EncoderBlock(layers.Layer):
    """Post-norm Transformer encoder block: x + attention(x), then x + feed_forward(x), each normalised."""

    def __init__(self, width, heads, hidden, dropout=0.1):
        super().__init__()
        self.attend = layers.MultiHeadAttention(num_heads=heads, key_dim=width)
        self.feed = keras.Sequential([layers.Dense(hidden, activation="relu"), layers.Dense(width)])
        self.norm_a, self.norm_b = layers.LayerNormalization(epsilon=1e-6), layers.LayerNormalization(epsilon=1e-6)
        self.drop_a, self.drop_b = layers.Dropout(dropout), layers.Dropout(dropout)

    def call(self, x):
        x = self.norm_a(x + self.drop_a(self.attend(x, x)))
        return self.norm_b(x + self.drop_b(self.feed(x)))


def build_model():
    ids = layers.Input(shape=(MAX_WORDS,))
    h = EncoderBlock(WIDTH, HEADS, HIDDEN)(Embed(MAX_WORDS, VOCAB, WIDTH)(ids))
    h = layers.Dropout(0.1)(layers.GlobalAveragePooling1D()(h))
    h = layers.Dropout(0.1)(layers.Dense(20, activation="relu")(h))
    model = keras.Model(inputs=ids, outputs=layers.Dense(2, activation="softmax")(h))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main(argv=None):
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--epochs", type=int, default=2)
    args.add_argument("--batch-size", type=int, default=32)
    args = args.parse_args(argv)
    (x_train, y_train), (x_val, y_val) = keras.datasets.imdb.load_data(num_words=VOCAB)
    print(f"{len(x_train)} training reviews, {len(x_val)} validation reviews")
    x_train = keras.utils.pad_sequences(x_train, maxlen=MAX_WORDS)
    x_val = keras.utils.pad_sequences(x_val, maxlen=MAX_WORDS)
    model = build_model()
    return model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                     validation_data=(x_val, y_val))


if __name__ == "__main__":
    history = main()
