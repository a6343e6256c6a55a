"""The Keras callbacks of a training run: state resets, the best model, the history plot, progress,
Ctrl-C, and the resumable state. `training_callbacks` puts them in the order they depend on."""

from __future__ import annotations

import contextlib
import importlib.util
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from twitterbot import fsutil
from twitterbot.config import Config
from twitterbot.training import checkpoint
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


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint (best by val loss) that writes a temp file and renames it into place, and never
    saves a model whose loss is not finite (Keras saves the first epoch whatever its loss).

    `on_saved` runs after each new best is in place (the tweet-start state of those weights)."""

    def __init__(self, path: Path, on_saved: Callable[[], None] = lambda: None, **kwargs):
        self.final_path, self.on_saved = Path(path), on_saved
        self.temp_path = self.final_path.with_name(f"{fsutil.temp_prefix(self.final_path.stem)}tmp.weights.h5")
        super().__init__(str(self.temp_path), save_weights_only=True, save_best_only=True, **kwargs)

    def _should_save_model(self, epoch, batch, logs, filepath):
        logs = logs or {}
        finite = all(math.isfinite(float(logs.get(key, math.nan))) for key in ("loss", self.monitor))
        if finite and super()._should_save_model(epoch, batch, logs, filepath):
            fsutil.require_free(self.final_path.parent, checkpoint.weights_bytes(self.model), "the best model")
            return True
        return False

    def on_epoch_end(self, epoch, logs=None):
        try:
            super().on_epoch_end(epoch, logs)
            if self.temp_path.exists():
                fsutil.fsync_path(self.temp_path)
                self.temp_path.replace(self.final_path)
                self.on_saved()
        finally:
            self.temp_path.unlink(missing_ok=True)


class LossPlot(keras.callbacks.Callback):
    """Redraw loss.png (train and validation loss per epoch) from history.csv after every epoch."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder

    def on_epoch_end(self, epoch, logs=None):
        plot_history(self.folder)


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
        checkpoint.save_state(self.folder, self.model, state)
        self.restored = state  # a second fit in this run (after a resumed epoch) starts from here


def _plain(value):
    return None if value is None else float(value)


@dataclass
class Callbacks:
    """A run's callbacks in order, and the ones training asks about afterwards."""

    all: list[keras.callbacks.Callback]
    best_model: AtomicModelCheckpoint
    save_state: SaveState
    progress: RichProgress
    stop_on_interrupt: StopOnInterrupt


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
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=config.patience, min_delta=config.min_delta, restore_best_weights=True
    )
    reduce_lr = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", factor=0.5, patience=max(config.patience - 1, 1), min_delta=config.min_delta / 2
    )
    best_model = AtomicModelCheckpoint(
        out / checkpoint.WEIGHTS,
        on_saved=lambda: checkpoint.write_start_state(out, config, train_stream),
        monitor="val_loss",
    )
    save_state = SaveState(out, early_stopping, reduce_lr, best_model, restored, save_every)
    progress = RichProgress(console, steps, config.batch_size * config.seq_len, config.num_epochs)
    stop_on_interrupt = StopOnInterrupt()
    callbacks = [
        ResetStates(resuming=first_step > 0),
        keras.callbacks.TerminateOnNaN(raise_error=True),  # no more callbacks: nothing non-finite is saved
        best_model,
        early_stopping,
        reduce_lr,
        keras.callbacks.CSVLogger(str(out / checkpoint.HISTORY), append=True),
        LossPlot(out),
        save_state,
        progress,
        stop_on_interrupt,
    ]
    if importlib.util.find_spec("tensorflow") is not None:  # TensorBoard writes through tf.summary
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out / checkpoint.LOGS), write_graph=False))
    return Callbacks(callbacks, best_model, save_state, progress, stop_on_interrupt)


def plot_history(folder: Path) -> None:
    """Draw train and validation loss per epoch to loss.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    history = checkpoint.read_history(folder)
    if not history:
        return
    epochs = np.array([row["epoch"] + 1 for row in history])
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(epochs, [row["loss"] for row in history], marker="o", label="train")
    if "val_loss" in history[0]:
        axes.plot(epochs, [row["val_loss"] for row in history], marker="o", label="validation")
    axes.set(xlabel="epoch", ylabel="loss (nats/char)", title=Path(folder).name)
    axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    axes.legend()
    with fsutil.atomic_path(Path(folder) / checkpoint.LOSS_PLOT) as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(figure)
