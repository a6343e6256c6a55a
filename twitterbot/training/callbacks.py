"""The Keras callbacks of a training run: state resets, the best model, the history plot, progress,
Ctrl-C, and the resumable state. `training_callbacks` puts them in the order they depend on."""

from __future__ import annotations

import contextlib
import importlib.util
import math
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from twitterbot.config import Config
from twitterbot.training import checkpoint, runstate
from twitterbot.training.model import reset_states


class ResetStates(keras.callbacks.Callback):
    """Zero the LSTM state where the stream restarts: each epoch, and before and after validation.

    `resuming`: the next epoch continues one interrupted mid-way, whose LSTM state was restored.
    """

    def __init__(self, resuming: bool = False):
        super().__init__()
        self.resuming = resuming

    def on_epoch_begin(self, epoch, logs=None):
        if self.resuming:
            self.resuming = False
            return
        reset_states(self.model)

    def on_test_begin(self, logs=None):
        reset_states(self.model)

    def on_test_end(self, logs=None):
        reset_states(self.model)


class BestModel(keras.callbacks.Callback):
    """Keep the epoch with the lowest finite validation loss as the checkpoint's best model (and its
    tweet-start state); an epoch whose training or validation loss is not finite is never kept."""

    def __init__(self, folder: Path, config: Config, train_stream: np.ndarray):
        super().__init__()
        self.folder, self.config, self.train_stream = folder, config, train_stream
        self.best: float | None = None  # the best validation loss so far (a restored run hands it back)

    def improved(self, logs: dict) -> bool:
        losses = [float(logs.get(key, math.nan)) for key in ("loss", "val_loss")]
        return all(map(math.isfinite, losses)) and (self.best is None or losses[1] < self.best)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.improved(logs):
            checkpoint.save_best(self.folder, self.model, self.config, self.train_stream)
            self.best = float(logs["val_loss"])


class History(keras.callbacks.Callback):
    """Add each epoch's losses and learning rate to history.csv and redraw loss.png."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder

    def on_epoch_end(self, epoch, logs=None):
        checkpoint.append_history(self.folder, epoch, logs or {})


class RichProgress(keras.callbacks.Callback):
    """A progress bar with loss, bits/char and chars/s, and one summary line per epoch.

    Where the console is not a terminal (a run in the background, output to a log file) the bar
    never draws, so a plain line is printed every tenth of an epoch instead.
    """

    def __init__(self, console: Console, steps: int, chars_per_step: int, epochs: int):
        super().__init__()
        self.console, self.steps, self.chars_per_step, self.epochs = console, steps, chars_per_step, epochs
        self.log_every = None if console.is_terminal else max(steps // 10, 1)
        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "loss {task.fields[loss]:.3f} · {task.fields[bpc]:.3f} bits/char · {task.fields[speed]:,.0f} chars/s"
            ),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )

    def on_train_begin(self, logs=None):
        self.progress.start()

    def on_train_end(self, logs=None):
        self.progress.stop()

    def on_epoch_begin(self, epoch, logs=None):
        self.started, self.epoch = time.perf_counter(), epoch + 1
        self.task = self.progress.add_task(
            "train", total=self.steps, epoch=self.epoch, epochs=self.epochs, loss=math.nan, bpc=math.nan, speed=0.0
        )

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", math.nan))
        speed = (batch + 1) * self.chars_per_step / max(time.perf_counter() - self.started, 1e-9)
        self.progress.update(self.task, completed=batch + 1, loss=loss, bpc=loss / math.log(2), speed=speed)
        if self.log_every and (batch + 1) % self.log_every == 0 and batch + 1 < self.steps:
            self.console.print(
                f"epoch {self.epoch}/{self.epochs}  batch {batch + 1}/{self.steps}  "
                f"loss {loss:.4f}  {speed:,.0f} chars/s"
            )

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        elapsed = time.perf_counter() - self.started
        self.progress.remove_task(self.task)
        val = logs.get("val_loss", math.nan)
        self.console.print(
            f"epoch {epoch + 1}/{self.epochs}  loss {logs.get('loss', math.nan):.4f}  val_loss {val:.4f} "
            f"({val / math.log(2):.3f} bits/char)  {self.steps * self.chars_per_step / elapsed:,.0f} chars/s  "
            f"{elapsed:.0f}s"
        )


class StopOnInterrupt(keras.callbacks.Callback):
    """Ctrl-C, or SIGTERM (`kill`, a service manager, a session's end), stops training at the next batch end.

    On JAX a KeyboardInterrupt raised while Python waits on a computation can be swallowed
    (jax-ml/jax#18246: here training went on to its last epoch; `kill` left a search's worker
    training), so during `fit` either signal only sets a flag and this callback raises the
    KeyboardInterrupt from Python; a second signal acts at once.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        super().__init__()
        self.requested = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
            yield
            return
        previous = {signum: signal.signal(signum, self._request) for signum in self.SIGNALS}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _request(self, signum, frame):
        self.requested = True
        signal.signal(signum, signal.default_int_handler)

    def on_train_batch_end(self, batch, logs=None):
        if self.requested:
            raise KeyboardInterrupt

    on_test_batch_end = on_train_batch_end


class SaveState(keras.callbacks.Callback):
    """Save what --restore needs after every epoch, and every `every` batches within one; on a restored
    run, hand the counters back. Must come after the callbacks whose counters it saves.

    `first`: the batch the current (resumed) epoch started at, so saved positions count from the epoch's start.
    """

    def __init__(self, folder: Path, early_stopping, reduce_lr, best_model, restored: dict | None, every: int = 0):
        super().__init__()
        self.folder, self.restored, self.every, self.first = folder, restored, every, 0
        self.early_stopping, self.reduce_lr, self.best_model = early_stopping, reduce_lr, best_model
        self.epoch = 0

    def on_train_begin(self, logs=None):
        if not self.restored:
            return
        self.model.optimizer.learning_rate = self.restored["learning_rate"]
        for callback, key in ((self.early_stopping, "early_stopping"), (self.reduce_lr, "reduce_lr")):
            for name, value in self.restored[key].items():
                setattr(callback, name, value)
        self.best_model.best = self.restored["best_val_loss"]

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        step = self.first + batch + 1
        if self.every and step % self.every == 0 and math.isfinite((logs or {}).get("loss", math.nan)):
            self._save(epoch=self.epoch, step=step)

    def on_epoch_end(self, epoch, logs=None):
        self.first = 0
        if math.isfinite((logs or {}).get("loss", math.nan)):  # a NaN epoch must not replace the last good state
            self._save(epoch=epoch + 1, step=0)

    def _save(self, epoch: int, step: int) -> None:
        state = {
            "epoch": epoch,  # epochs finished
            "step": step,  # batches of the next epoch finished
            "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
            "early_stopping": {
                "wait": self.early_stopping.wait,
                "best": _plain(self.early_stopping.best),
                "best_epoch": self.early_stopping.best_epoch,
            },
            "reduce_lr": {
                "wait": self.reduce_lr.wait,
                "best": _plain(self.reduce_lr.best),
                "cooldown_counter": self.reduce_lr.cooldown_counter,
            },
            "best_val_loss": _plain(self.best_model.best),
            "stopped": bool(self.model.stop_training),
        }
        runstate.save_state(self.folder, self.model, state)
        self.restored = state  # a second fit in this run (after a resumed epoch) starts from here


def _plain(value):
    return None if value is None else float(value)


@dataclass
class Callbacks:
    """A run's callbacks in order, and the ones training asks about afterwards."""

    all: list[keras.callbacks.Callback]
    best_model: BestModel
    save_state: SaveState
    progress: RichProgress
    stop_on_interrupt: StopOnInterrupt


def plateau_schedule(config: Config) -> dict[str, dict[str, float]]:
    """When a run stops (EarlyStopping) and when it halves its rate first (ReduceLROnPlateau, a patience
    sooner), both on validation loss: the page's fine-tuning reads the same from generation.json."""
    return {
        "early_stopping": {"patience": config.patience, "min_delta": config.min_delta},
        "reduce_lr": {"factor": 0.5, "patience": max(config.patience - 1, 1), "min_delta": config.min_delta / 2},
    }


def training_callbacks(
    out: Path,
    config: Config,
    restored: dict | None,
    first_step: int,
    save_every: int,
    steps: int,
    console: Console,
    train_stream: np.ndarray,
) -> Callbacks:
    """The callbacks of a run into checkpoint folder `out`, fresh or restored (`restored`: the saved
    counters, `first_step`: the batch the resumed epoch goes on from; `train_stream`: the training ids
    each best model's tweet-start state is read from). SaveState comes after the callbacks whose
    counters it saves; TerminateOnNaN before anything that saves."""
    schedule = plateau_schedule(config)
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", restore_best_weights=True, **schedule["early_stopping"]
    )
    reduce_lr = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", **schedule["reduce_lr"])
    best_model = BestModel(out, config, train_stream)
    save_state = SaveState(out, early_stopping, reduce_lr, best_model, restored, save_every)
    progress = RichProgress(console, steps, config.batch_size * config.seq_len, config.num_epochs)
    stop_on_interrupt = StopOnInterrupt()
    callbacks = [
        ResetStates(resuming=first_step > 0),
        keras.callbacks.TerminateOnNaN(raise_error=True),  # no more callbacks: nothing non-finite is saved
        best_model,
        early_stopping,
        reduce_lr,
        History(out),
        save_state,
        progress,
        stop_on_interrupt,
    ]
    if importlib.util.find_spec("tensorflow") is not None:  # TensorBoard writes through tf.summary
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out / checkpoint.LOGS), write_graph=False))
    return Callbacks(callbacks, best_model, save_state, progress, stop_on_interrupt)
