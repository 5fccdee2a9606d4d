"""Chapter 13 exercises: one MLP through both faces of minigrad."""
import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F


def keras_mlp():
    """The seed's Keras MLP: 784 -> 64 -> 64 -> 10 softmax, compiled with Adam(0.01)."""
    layers = mg.keras.layers
    model = mg.keras.Sequential([
        layers.Dense(64, activation="relu", input_shape=(784,)),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=mg.keras.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    model.build((None, 784))  # create the weights now (Keras does this when input_shape is given)
    return model


class TorchMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 64)
        self.fc2 = nn.Linear(64, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x.reshape(x.shape[0], -1)))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def count_params(model):
    if hasattr(model, "count_params"):
        return int(model.count_params())
    return sum(p.numel() for p in model.parameters())
