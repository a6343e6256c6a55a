"""`bot train`: fit the stateful LSTM on a data folder with Keras callbacks; resumable with --restore."""

from __future__ import annotations

import contextlib
import csv
import functools
import importlib.util
import math
import os
import shutil
import signal
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import keras
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from . import checkpoint, fsutil
from .batches import LaneBatches, open_split
from .checkpoint import state_dirs
from .config import Config
from .data import DataFolder, open_data, require_vocab
from .errors import BotError
from .model import build_model, compile_model, reset_states, weight_shapes
from .vocab import Vocab

HISTORY = "history.csv"


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
    saves a model whose loss is not finite (Keras saves the first epoch whatever its loss)."""

    def __init__(self, path: Path, **kwargs):
        self.final_path = Path(path)
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


class StopOnCtrlC(keras.callbacks.Callback):
    """Ctrl-C stops training at the next batch end.

    On JAX a KeyboardInterrupt raised while Python waits on a computation can be swallowed
    (jax-ml/jax#18246: here training went on to its last epoch), so during `fit` SIGINT only sets
    a flag and this callback raises the KeyboardInterrupt from Python; a second Ctrl-C acts at once.
    """

    def __init__(self):
        super().__init__()
        self.requested = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
            yield
            return
        previous = signal.signal(signal.SIGINT, self._request)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _request(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

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


def train(
    data_path: Path,
    out: Path,
    config: Config,
    restore: bool = False,
    force: bool = False,
    console: Console | None = None,
    initial_weights: Path | None = None,
    distribute: bool = False,
    save_every: int = 0,
    changed: Iterable[str] = ("num_epochs",),
) -> list[dict]:
    """Train (or continue training) a model on a data folder into a checkpoint folder; return the history.

    `initial_weights` starts a fresh run from another checkpoint's weights (fine-tuning); `distribute`
    splits every batch across all local devices (data parallel, JAX); `save_every` also saves the
    resumable state every that many batches. With `restore`, the saved run's config is used, except
    the schedule settings named in `changed` (the flags given), taken from `config`. One run at a
    time per folder (a lock file beside it).
    """
    console = console or Console(stderr=True)
    if save_every < 0:
        raise BotError(f"--save-every must be 0 (epochs only) or a number of batches (got {save_every})")
    out = Path(out)
    with fsutil.lock(out, f"checkpoint folder {out}"):
        return _train(
            open_data(data_path),
            out,
            config,
            restore=restore,
            force=force,
            console=console,
            initial_weights=initial_weights,
            distribute=distribute,
            save_every=save_every,
            changed=changed,
        )


def _train(
    data: DataFolder,
    out: Path,
    config: Config,
    *,
    restore: bool,
    force: bool,
    console: Console,
    initial_weights: Path | None,
    distribute: bool,
    save_every: int,
    changed: Iterable[str],
) -> list[dict]:
    if restore:
        if not (out / "config.json").is_file():
            raise BotError(f"{out}: nothing to restore (no config.json); start a fresh run without --restore")
        requested, saved = config, Config.load(out / "config.json")
        config = saved.resumed_with(requested, changed)
        require_vocab(data, Vocab.load(out / "vocab.json"), out)
    else:
        hint = f"; `bot train {data.path} --out {out} --restore` goes on from its saved run" if state_dirs(out) else ""
        inputs = [data.path] + ([initial_weights] if initial_weights else [])
        fsutil.refuse_existing(out, force, "checkpoint folder", checkpoint.is_checkpoint, inputs, hint)
        config = config.replace(vocab_size=data.vocab.size)
    check_memory(config)
    fsutil.sweep_stale(out)  # temp files of a killed run into this folder (we hold its lock)

    train_batches = _batches(data, "train", config)  # checked before an old checkpoint is replaced
    val_batches = _batches(data, "validate", config)
    if not restore:
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        config.save(out / "config.json")
        data.vocab.save(out / "vocab.json")
    keras.utils.set_random_seed(config.seed)
    if distribute:
        _distribute(config.batch_size)
    model = compile_model(build_model(config, config.batch_size, config.seq_len), config)
    if initial_weights and not restore:
        with warnings.catch_warnings():  # the base run's optimizer slots are not wanted: fresh optimizer
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model.load_weights(initial_weights)
    restored, initial_epoch, first_step = None, 0, 0
    if restore:
        model.build((config.batch_size, config.seq_len))
        model.optimizer.build(model.trainable_variables)
        restored = checkpoint.load_state(out, model, warn=lambda text: console.print(f"[yellow]{text}[/]"))
        if "learning_rate" in changed:  # the rate from here on; config.json keeps the run's initial rate
            restored["learning_rate"] = requested.learning_rate
        if config != saved:
            config.save(out / "config.json")
        initial_epoch, first_step = int(restored["epoch"]), int(restored.get("step", 0))
        _truncate_history(out / HISTORY, initial_epoch)
        if restored.get("stopped") and not {"patience", "min_delta"} & set(changed):
            console.print(
                f"{out}: early stopping ended this run at epoch {initial_epoch}; "
                "pass a larger --patience or a smaller --min-delta to go on"
            )
            return read_history(out)
        if initial_epoch >= config.num_epochs:
            console.print(
                f"{out}: training already finished at epoch {initial_epoch}; pass a larger --num-epochs to go on"
            )
            return read_history(out)

    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=config.patience, min_delta=config.min_delta, restore_best_weights=True
    )
    reduce_lr = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", factor=0.5, patience=max(config.patience - 1, 1), min_delta=config.min_delta / 2
    )
    best_model = AtomicModelCheckpoint(out / "model.weights.h5", monitor="val_loss")
    save_state = SaveState(out, early_stopping, reduce_lr, best_model, restored, save_every)
    progress = RichProgress(console, len(train_batches), config.batch_size * config.seq_len, config.num_epochs)
    stop_on_ctrl_c = StopOnCtrlC()
    callbacks = [
        ResetStates(resuming=first_step > 0),
        keras.callbacks.TerminateOnNaN(raise_error=True),  # no more callbacks: nothing non-finite is saved
        best_model,
        early_stopping,
        reduce_lr,
        keras.callbacks.CSVLogger(str(out / HISTORY), append=True),
        LossPlot(out),
        save_state,
        progress,
        stop_on_ctrl_c,
    ]
    if importlib.util.find_spec("tensorflow") is not None:  # TensorBoard writes through tf.summary
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out / "logs"), write_graph=False))
    if initial_weights and not restore:
        console.print(f"starting from {initial_weights}")
    console.print(
        f"training on {keras.backend.backend()} "
        f"({_devices()}): {config.num_layers}×LSTM {config.rnn_size}, "
        f"{len(train_batches)} batches of {config.batch_size}×{config.seq_len} per epoch"
    )
    fit = functools.partial(model.fit, validation_data=val_batches, callbacks=callbacks, verbose=0, shuffle=False)
    try:
        with stop_on_ctrl_c.installed():
            if first_step:  # finish the interrupted epoch from the batch after the last one saved
                console.print(f"resuming epoch {initial_epoch + 1} at batch {first_step + 1}")
                save_state.first, progress.steps = first_step, len(train_batches) - first_step
                rest = _batches(data, "train", config, first=first_step)
                fit(rest, epochs=initial_epoch + 1, initial_epoch=initial_epoch)
                progress.steps = len(train_batches)
                initial_epoch += 1
            if initial_epoch < config.num_epochs and not model.stop_training:
                fit(train_batches, epochs=config.num_epochs, initial_epoch=initial_epoch)
    except KeyboardInterrupt:  # Ctrl-C: say what is kept and how to go on
        progress.on_train_end()
        console.print(_resume_hint(data.path, out, save_state.restored))
        raise
    except RuntimeError as error:
        if "NaN or Inf loss" not in str(error):
            raise
        progress.on_train_end()
        kept = "the best model and the last good state are kept" if best_model.best is not None else "nothing was saved"
        raise BotError(
            f"{out}: the loss became NaN or infinite in epoch {progress.epoch} ({kept}); "
            "train again with a lower --learning-rate or --clip-norm"
        ) from error
    return read_history(out)


def check_memory(config: Config) -> None:
    """Refuse a model that cannot fit in this machine's memory before building it: weights, gradients and
    two optimizer slots in float32 (a 10-million-unit LSTM took 14 GB before failing)."""
    needed = 16 * sum(math.prod(shape) for shape in weight_shapes(config))
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return  # the system does not say
    if needed > memory:
        raise BotError(
            f"a model of {config.num_layers}×{config.rnn_size} units needs about {needed / 1e9:,.0f} GB to train, "
            f"this machine has {memory / 1e9:,.0f} GB: lower --rnn-size or --num-layers"
        )


def _resume_hint(data: Path, out: Path, state: dict | None) -> str:
    if not state:
        return f"{out}: stopped before the first save; nothing to resume (--save-every N saves within epochs)"
    where = f"epoch {state['epoch'] + 1}" + (f", batch {state['step'] + 1}" if state.get("step") else "")
    return f"{out}: stopped; `bot train {data} --out {out} --restore` goes on from {where}"


def _batches(data: DataFolder, split: str, config: Config, first: int = 0) -> LaneBatches:
    stream = open_split(data.h5_path, split)
    return LaneBatches(stream, config.batch_size, config.seq_len, what=f"{data.path} split {split!r}", first=first)


def _distribute(batch_size: int) -> None:
    """Data parallel over every local device: each device takes a contiguous share of the lanes (rows)
    of every batch, so a lane's state stays with one device; weights are replicated."""
    if keras.backend.backend() != "jax":
        raise BotError(f"--distribute needs the JAX backend (KERAS_BACKEND=jax), not {keras.backend.backend()}")
    devices = keras.distribution.list_devices()
    if batch_size % len(devices):
        raise BotError(f"--batch-size {batch_size} does not split evenly across {len(devices)} devices")
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))


def _devices() -> str:
    """Where training runs, for the start-up line: GPUs are used whenever the backend sees them."""
    if keras.backend.backend() == "jax":
        import jax

        return ", ".join(str(device) for device in jax.devices())
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return f"{len(gpus)} GPU" if gpus else "CPU"
    return "default device"


def read_history(folder: Path) -> list[dict]:
    header, rows = _history_rows(Path(folder) / HISTORY)
    return [{key: float(value) for key, value in zip(header, row, strict=True)} for row in rows]


def _history_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """history.csv's header and its whole rows: a crash can leave the last one cut short."""
    if not path.exists():
        return [], []
    with open(path, newline="") as stream:
        header, *rows = list(csv.reader(stream)) or [[]]
    return header, [row for row in rows if len(row) == len(header) and all(map(_is_number, row))]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _truncate_history(path: Path, epochs: int) -> None:
    """Keep only whole rows of epochs the restored state covers, so no epoch appears twice or half."""
    if not path.exists():
        return
    header, rows = _history_rows(path)
    with fsutil.atomic_path(path) as tmp, open(tmp, "w", newline="") as stream:
        csv.writer(stream).writerows([header] + rows[:epochs])  # "\r\n" rows, as CSVLogger appends them


def plot_history(folder: Path) -> None:
    """Draw train and validation loss per epoch to loss.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    history = read_history(folder)
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
    with fsutil.atomic_path(Path(folder) / "loss.png") as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(figure)


def finetune(
    base_path: Path | None,
    data_path: Path,
    out: Path,
    learning_rate: float | None = None,
    num_epochs: int = 10,
    patience: int | None = None,
    min_delta: float | None = None,
    batch_size: int | None = None,
    seq_len: int | None = None,
    freeze_embedding: bool = False,
    freeze_layers: int = 0,
    force: bool = False,
    console: Console | None = None,
) -> dict:
    """Transfer learning: continue a base model on one account's tweets with a lower learning rate.

    The data must be encoded with the base model's vocabulary (`bot prepare --vocab BASE`). Returns
    the account's test loss under the base model and under the fine-tuned one, and the history.
    """
    from .evaluate import evaluate

    base = checkpoint.open_checkpoint(base_path)
    defaults_to_base = {"patience": patience, "min_delta": min_delta, "batch_size": batch_size, "seq_len": seq_len}
    config = base.config.replace(  # flags are checked before any data is read
        learning_rate=base.config.learning_rate / 10 if learning_rate is None else learning_rate,
        num_epochs=num_epochs,
        freeze_embedding=freeze_embedding,
        freeze_layers=freeze_layers,
        **{name: value for name, value in defaults_to_base.items() if value is not None},
    )
    data = open_data(data_path)
    require_vocab(data, base.vocab, base.path)
    if batch_size is None:  # small accounts: as many lanes as the validation split can fill
        fitting = max(1, (data.lengths["validate"] - 1) // config.seq_len)
        config = config.replace(batch_size=min(base.config.batch_size, fitting))
    before = evaluate(base.path, data.path)
    history = train(data.path, out, config, force=force, console=console, initial_weights=base.weights)
    after = evaluate(out, data.path)
    return {"before": before, "after": after, "history": history, "config": config}
