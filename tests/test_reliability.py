"""Crash safety: SIGKILL at random points, damaged checkpoints, a full disk, two runs in one folder."""

import csv
import errno
import os
import random
import re
import signal
import subprocess
import sys
import time

import keras
import pytest
from conftest import CLI_BACKEND
from rich.console import Console

from twitterbot import fsutil
from twitterbot.errors import BotError
from twitterbot.training import checkpoint, runstate
from twitterbot.training.checkpoint import open_checkpoint
from twitterbot.training.train import train

TINY = ["--rnn-size", "32", "--embedding-size", "8", "--batch-size", "4", "--seq-len", "16", "--drop-rate", "0.1"]
TINY += ["--learning-rate", "0.01", "--save-every", "7"]


def bot_train(data_folder, out, *extra, backend=CLI_BACKEND):
    command = [sys.executable, "-m", "twitterbot.cli", "train", str(data_folder), "--out", str(out), *TINY, *extra]
    return subprocess.Popen(
        command,
        env={**os.environ, "KERAS_BACKEND": backend},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def history(folder):
    with open(folder / "history.csv", newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_sigkill_at_random_points_then_restore_loses_nothing(data_folder, tmp_path, backend):
    epochs = "5"
    reference = bot_train(data_folder, tmp_path / "reference", "--num-epochs", epochs, backend=backend)
    assert reference.wait(timeout=600) == 0, reference.stderr.read()
    out = tmp_path / "killed"
    rng = random.Random(7)
    for _ in range(5):
        resumable = bool(runstate.state_dirs(out)) if out.exists() else False
        run = bot_train(
            data_folder, out, "--num-epochs", epochs, "--restore" if resumable else "--force", backend=backend
        )
        time.sleep(rng.uniform(2.0, 9.0))  # start-up, mid-batch, mid-save, validation: wherever it lands
        run.kill()
        run.wait()
        if (out / "model.weights.h5").exists():
            open_checkpoint(out).load_model(1)  # whatever was written is whole
    again = "--restore" if runstate.state_dirs(out) else "--force"
    run = bot_train(data_folder, out, "--num-epochs", epochs, again, backend=backend)
    assert run.wait(timeout=600) == 0, run.stderr.read()
    finished, expected = history(out), history(tmp_path / "reference")
    assert [row["epoch"] for row in finished] == [str(epoch) for epoch in range(int(epochs))]
    # Resumed exactly (weights, optimizer, LSTM state, dropout RNG, batch position): the same validation losses.
    assert [float(row["val_loss"]) for row in finished] == pytest.approx(
        [float(row["val_loss"]) for row in expected], rel=1e-4
    )


@pytest.mark.parametrize("left", ["", "\r\n", "epoch,learning_ra"])
def test_a_run_killed_before_its_history_header_is_whole_restores_with_one(tmp_path, left):
    """A kill as Keras's CSVLogger (history.csv's writer until append_history) opened history.csv left it
    empty or cut; a restore kept a blank line, CSVLogger then wrote no header and the rows came without one."""
    (tmp_path / "history.csv").write_text(left)
    checkpoint.trim_history(tmp_path, 0)
    assert not (tmp_path / "history.csv").exists()
    checkpoint.append_history(tmp_path, 0, {"loss": 2.5, "val_loss": 2.4, "learning_rate": 0.01})
    assert history(tmp_path) == [{"epoch": "0", "learning_rate": "0.01", "loss": "2.5", "val_loss": "2.4"}]
    (tmp_path / "history.csv").write_text("epoch,learning_rate,loss,val_loss\r\n0,0.01,2.5,2.4\r\n1,0.01,2.")
    checkpoint.trim_history(tmp_path, 1)
    assert history(tmp_path) == [{"epoch": "0", "learning_rate": "0.01", "loss": "2.5", "val_loss": "2.4"}]


@pytest.mark.both_backends
def test_damaged_state_falls_back_to_the_one_before(data_folder, tiny_config, tmp_path, keras_backend):
    out = tmp_path / "ckpt"
    train(data_folder, out, tiny_config.replace(num_epochs=2))
    (out / "state" / "last.weights.h5").write_bytes(b"\x89HDF\r\n garbage")
    console = Console(record=True, width=200)
    train(data_folder, out, tiny_config.replace(num_epochs=3), restore=True, console=console)
    printed = console.export_text()
    assert "damaged training state skipped" in printed and "restoring" in printed
    assert [row["epoch"] for row in history(out)] == ["0", "1", "2"]  # epoch 2 (the damaged one) was redone
    for folder in ("state", "state.prev"):
        (out / folder / "state.json").write_text("{ truncated")
    with pytest.raises(BotError, match=r"no loadable training state .*state\.json: not valid JSON"):
        train(data_folder, out, tiny_config.replace(num_epochs=4), restore=True)


@pytest.mark.both_backends
def test_state_from_an_older_version_still_resumes(data_folder, tiny_config, tmp_path, keras_backend):
    """States saved before LSTM and RNG states were kept (no lstm_rng_states.npz) must not strand a long run."""
    out = tmp_path / "ckpt"
    train(data_folder, out, tiny_config.replace(num_epochs=1))
    for folder in ("state", "state.prev"):
        (out / folder / runstate.RNG_STATES).unlink(missing_ok=True)
    console = Console(record=True, width=200)
    train(data_folder, out, tiny_config.replace(num_epochs=2), restore=True, console=console)
    assert "older twitterbot" in console.export_text()
    assert [row["epoch"] for row in history(out)] == ["0", "1"]
    assert (out / "state" / runstate.RNG_STATES).is_file()  # saved in the current format from then on


@pytest.mark.both_backends
def test_full_disk_keeps_the_last_good_checkpoint(data_folder, tiny_config, tmp_path, monkeypatch, keras_backend):
    out = tmp_path / "ckpt"
    train(data_folder, out, tiny_config.replace(num_epochs=1))
    before = {name: (out / name).read_bytes() for name in ("model.weights.h5", "state/last.weights.h5")}

    def full(path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(fsutil, "fsync_path", full)
    with pytest.raises(OSError, match="No space left"):
        train(data_folder, out, tiny_config.replace(num_epochs=2), restore=True)
    monkeypatch.undo()
    assert {name: (out / name).read_bytes() for name in before} == before
    assert not [p for p in out.rglob("*.tmp*")]  # no half-written temp files left behind
    train(data_folder, out, tiny_config.replace(num_epochs=2), restore=True)
    assert [row["epoch"] for row in history(out)] == ["0", "1"]


def test_second_run_into_the_same_folder_is_refused(data_folder, tmp_path):
    out = tmp_path / "busy"
    first = bot_train(data_folder, out, "--num-epochs", "50")
    lock = tmp_path / ".busy.lock"
    deadline = time.monotonic() + 60
    while not lock.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        second = bot_train(data_folder, out, "--num-epochs", "1", "--force")
        _, err = second.communicate(timeout=120)
        assert second.returncode == 1 and f"in use by process {first.pid}" in err
        assert len(err.strip().splitlines()) == 1
    finally:
        first.kill()
        first.wait()
    lock.write_text("999999999\n")  # a stale lock: its process is gone
    with fsutil.lock(out, "test"):
        assert lock.read_text().split()[0] == str(os.getpid())


# JAX swallowed a KeyboardInterrupt raised while Python waited on XLA (SIGINT, then SIGTERM): both signals now
# only set a flag. On JAX the model is one whose batches keep XLA busy, where the signal was lost 3 times in 3.
BUSY = ["--rnn-size", "1024", "--seq-len", "64"]


@pytest.mark.parametrize(
    ("backend", "signum", "model"),
    [("tensorflow", signal.SIGINT, []), ("jax", signal.SIGTERM, BUSY)],
    ids=["tensorflow-SIGINT", "jax-SIGTERM"],
)
def test_ctrl_c_or_kill_says_where_restore_goes_on(data_folder, tmp_path, backend, signum, model):
    out = tmp_path / "stopped"
    run = bot_train(data_folder, out, "--num-epochs", "50", *model, backend=backend)
    deadline = time.monotonic() + 120
    while not (out / runstate.STATE).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    run.send_signal(signum)
    try:
        _, err = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 130
    assert re.search(rf"stopped; `bot train {re.escape(str(data_folder))} --out .* --restore` goes on from epoch", err)
    assert err.rstrip().endswith("interrupted")
    if not model:  # the busy model's epoch takes half a minute; what a restore does is the same for both
        resumed = bot_train(data_folder, out, "--num-epochs", "1", "--restore", backend=backend)
        assert resumed.wait(timeout=300) == 0, resumed.stderr.read()


class StopAt(keras.callbacks.Callback):
    """Ctrl-C at the end of one batch of one epoch (after the state saved there)."""

    def __init__(self, epoch: int, batch: int):
        super().__init__()
        self.at, self.epoch = (epoch, batch), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch + 1) == self.at:
            raise KeyboardInterrupt


@pytest.mark.both_backends
def test_the_same_command_again_resumes_at_the_lowered_rate(data_folder, tiny_config, tmp_path, keras_backend):
    """The rate was halved on a plateau, then the run stopped mid-epoch; the command typed again (its
    --learning-rate the run's initial one) went on at the initial rate, and the last epoch differed."""
    config = tiny_config.replace(num_epochs=3, patience=2, min_delta=1.0)  # halves after epoch 2, stops after 3
    expected = train(data_folder, tmp_path / "reference", config, save_every=5)
    rate = config.learning_rate
    assert [row["learning_rate"] for row in expected] == pytest.approx([rate, rate, rate / 2], rel=1e-6)
    with pytest.raises(KeyboardInterrupt):
        train(data_folder, tmp_path / "ck", config, save_every=5, console=Console(quiet=True),
              extra_callbacks=[StopAt(epoch=2, batch=10)])  # fmt: skip
    console = Console(record=True, width=200)
    typed_again = ("num_epochs", "learning_rate", "patience", "min_delta")
    finished = train(data_folder, tmp_path / "ck", config, restore=True, save_every=5, changed=typed_again,
                     console=console)  # fmt: skip
    assert "--learning-rate 0.01 is the rate this run started at; it goes on at its current 0.005" in (
        console.export_text()
    )
    assert [row["val_loss"] for row in finished] == pytest.approx([row["val_loss"] for row in expected], rel=1e-6)
