"""BackupAndRestore: a fit() killed mid-training (os._exit, no cleanup) and run again ends at the
same weights, bit for bit, as a run never interrupted."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import minigrad as mg
from minigrad import keras
from minigrad.keras import callbacks, layers

SCRIPT = textwrap.dedent('''
    import os, sys
    import numpy as np
    import minigrad as mg
    from minigrad import keras
    from minigrad.keras import layers

    out, backup, save_freq, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    save_freq = save_freq if save_freq == "epoch" else int(save_freq)
    mg.manual_seed(0)
    data = np.random.default_rng(1)
    x = data.standard_normal((40, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    model = keras.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)), layers.Dropout(0.3),
                              layers.BatchNormalization(), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    class Crash(keras.callbacks.Callback):
        seen = 0
        def on_train_batch_end(self, batch, logs=None):
            Crash.seen += 1
            if Crash.seen == kill_at:
                os._exit(17)          # a hard kill: no cleanup, no on_train_end

    cbs = [keras.callbacks.BackupAndRestore(backup, save_freq=save_freq)] if backup != "-" else []
    model.fit(x, y, batch_size=8, epochs=4, callbacks=cbs + [Crash()], verbose=0, validation_split=0.2)
    np.savez(out, *model.get_weights(), *[s for st in model.optimizer.state.values() for s in st.values()
                                          if isinstance(s, np.ndarray)])
''')


def _run(tmp_path, *args):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """The final weights and optimizer state of the run never interrupted (no callback at all)."""
    folder = tmp_path_factory.mktemp("plain")
    r = _run(folder, folder / "plain.npz", "-", "epoch", 0)
    assert r.returncode == 0, r.stderr
    return folder / "plain.npz"


@pytest.mark.parametrize("save_freq", ["epoch", 3])
def test_killed_fit_resumes_to_the_same_weights(tmp_path, save_freq, plain):
    backup = tmp_path / "backup"
    # 4 batches an epoch (32 training samples); die in the middle of the third epoch
    r = _run(tmp_path, tmp_path / "never.npz", backup, save_freq, 10)
    assert r.returncode == 17, r.stderr
    assert (backup / "backup.keras").exists() and not (tmp_path / "never.npz").exists()
    r = _run(tmp_path, tmp_path / "resumed.npz", backup, save_freq, 0)
    assert r.returncode == 0, r.stderr
    assert not (backup / "backup.keras").exists()  # deleted when fit ended normally
    plain, resumed = np.load(plain), np.load(tmp_path / "resumed.npz")
    assert len(plain.files) == len(resumed.files) > 6  # weights and Adam's moments
    for k in plain.files:
        np.testing.assert_array_equal(plain[k], resumed[k])


def test_resume_starts_at_the_saved_epoch(tmp_path):
    mg.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((16, 3)).astype(np.float32)
    model = keras.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer="sgd", loss="mse")
    backup = callbacks.BackupAndRestore(tmp_path, delete_checkpoint=False)

    class Stop(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True
    model.fit(x, x[:, :1], epochs=5, callbacks=[backup, Stop()], verbose=0)
    h = model.fit(x, x[:, :1], epochs=5, callbacks=[backup], verbose=0)
    assert h.epoch == [2, 3, 4]


def test_bad_arguments_and_unbuilt_model(tmp_path):
    with pytest.raises(ValueError, match="save_freq"):
        callbacks.BackupAndRestore(tmp_path, save_freq=0)
    with pytest.raises(ValueError, match="backup_dir"):
        callbacks.BackupAndRestore("")
    model = keras.Sequential([layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="must be built"):
        model.fit(np.zeros((4, 2)), np.zeros(4), callbacks=[callbacks.BackupAndRestore(tmp_path)], verbose=0)
