"""`bot train`: fit the stateful LSTM on a data folder with Keras callbacks; resumable with --restore.

A run opens (fresh: a new checkpoint folder; restored: the saved settings, weights, optimizer and
counters), builds its callbacks (callbacks.py), and fits, finishing an interrupted epoch first.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import keras
from rich.console import Console

from twitterbot import fsutil
from twitterbot.config import Config
from twitterbot.corpus.datafolder import NOVELTY, DataFolder, open_data, require_vocab
from twitterbot.corpus.words import WordSet
from twitterbot.errors import BotError
from twitterbot.training import checkpoint, runstate
from twitterbot.training.callbacks import Callbacks, training_callbacks
from twitterbot.training.lstm import parameters
from twitterbot.training.model import build_model, compile_model, load_weights_only


@dataclass(frozen=True)
class Start:
    """Where a run starts: at the first epoch, or where a saved state left off (`restored`: its counters)."""

    epoch: int = 0
    step: int = 0  # batches of that epoch already done
    restored: dict | None = None


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
    extra_callbacks: Iterable[keras.callbacks.Callback] = (),
    known_words: WordSet | None = None,
) -> list[dict]:
    """Train (or continue training) a model on a data folder into a checkpoint folder; return the history.

    `initial_weights` starts a fresh run from another checkpoint's weights (fine-tuning); `distribute`
    splits every batch across all local devices (data parallel, JAX); `save_every` also saves the
    resumable state every that many batches. With `restore`, the saved run's config is used, except
    the schedule settings named in `changed` (the flags given), taken from `config`. `extra_callbacks`
    run after training's own (a search's early stop). The checkpoint knows the data's words and
    `known_words` (a fine-tune: its base's), for the non-word filter. One run at a time per folder (a
    lock file beside it).
    """
    console = console or Console(stderr=True)
    if save_every < 0:
        raise BotError(f"--save-every must be 0 (epochs only) or a number of batches (got {save_every})")
    out = Path(out)
    with fsutil.lock(out, f"checkpoint folder {out}"):
        data = open_data(data_path)
        requested = config
        config, saved = _settings(data, out, requested, restore, force, initial_weights, changed)
        check_memory(config)
        fsutil.sweep_stale(out)  # temp files of a killed run into this folder (we hold its lock)
        train_batches = data.batches("train", config.batch_size, config.seq_len)  # checked before anything is written
        val_batches = data.batches("validate", config.batch_size, config.seq_len)
        if not restore:
            words = data.words()
            if known_words is not None:
                words |= known_words
            checkpoint.create(out, config, data.vocab, novelty=data.path / NOVELTY, words=words)
        keras.utils.set_random_seed(config.seed)
        if distribute:
            _distribute(config.batch_size)
        model = build_model(config, config.batch_size, config.seq_len, config.precision)
        if initial_weights and not restore:
            # Before compiling: a compiled model would also load the base run's optimizer wherever its
            # variables fit (all of SGD's: the base's learning rate and step count, not the fine-tune's).
            load_weights_only(model, initial_weights)
            console.print(f"starting from {initial_weights}")
        compile_model(model, config)
        if restore:
            start = _restored(out, model, config, saved, requested, changed, console)
            if start is None:
                return checkpoint.read_history(out)
        else:
            start = Start()
        callbacks = training_callbacks(
            out, config, start.restored, start.step, save_every, len(train_batches), console, data.split("train")
        )
        callbacks.all.extend(extra_callbacks)
        console.print(
            f"training on {keras.backend.backend()} ({_devices()}): {config.num_layers}×LSTM {config.rnn_size}, "
            f"{len(train_batches)} batches of {config.batch_size}×{config.seq_len} per epoch"
        )
        _fit(model, data, out, config, start, callbacks, train_batches, val_batches, console)
        return checkpoint.read_history(out)


def settings_for_run(
    data: Path, config: Config, given: list[str], config_file: Path | None, restore: bool, say: Callable[[str], None]
) -> Config:
    """A run's settings from what the user typed (`given`: the settings typed on the command line): a
    config.json's or a search's best.json with the typed ones on top; on small data (one account) without
    a typed batch size, as many lanes as its validation split fills, which `say` tells."""
    if config_file:
        return Config.load(config_file).replace(**{name: getattr(config, name) for name in given}, vocab_size=0)
    if not restore and "batch_size" not in given:
        fitting = batch_that_fits(open_data(data), config)
        if fitting < config.batch_size:
            say(f"{data}: its validation split fills {fitting} lanes: training with --batch-size {fitting}")
            return config.replace(batch_size=fitting)
    return config


def batch_that_fits(data: DataFolder, config: Config) -> int:
    """The most lanes, up to config.batch_size, that the validation split fills with a window each: one
    account's tweets train (and validate) rather than stop at "fewer than one batch"."""
    return min(config.batch_size, max(1, (data.lengths["validate"] - 1) // config.seq_len))


def _settings(
    data: DataFolder,
    out: Path,
    config: Config,
    restore: bool,
    force: bool,
    initial_weights: Path | None,
    changed: Iterable[str],
) -> tuple[Config, Config | None]:
    """The run's settings, and the saved ones of a restored run; refuses what may not be (over)written."""
    if restore:
        saved, vocab = checkpoint.open_run(out)
        require_vocab(data, vocab, out)
        return saved.resumed_with(config, changed), saved
    saved_run = runstate.state_dirs(out)
    hint = f"; `bot train {data.path} --out {out} --restore` goes on from its saved run" if saved_run else ""
    inputs = [data.path] + ([initial_weights] if initial_weights else [])
    fsutil.refuse_existing(out, force, "checkpoint folder", checkpoint.is_checkpoint, inputs, hint)
    return config.replace(vocab_size=data.vocab.size), None


def _restored(
    out: Path,
    model: keras.Model,
    config: Config,
    saved: Config,
    requested: Config,
    changed: Iterable[str],
    console: Console,
) -> Start | None:
    """Load the saved state into `model`; None when the run has nothing left to do (said why)."""
    model.build((config.batch_size, config.seq_len))
    model.optimizer.build(model.trainable_variables)
    restored = runstate.load_state(out, model, warn=lambda text: console.print(f"[yellow]{text}[/]"))
    current = restored["learning_rate"]
    if "learning_rate" in changed and requested.learning_rate != saved.learning_rate:
        restored["learning_rate"] = requested.learning_rate  # from here on; config.json keeps the initial rate
    elif "learning_rate" in changed and not math.isclose(current, saved.learning_rate, rel_tol=1e-6):
        console.print(  # the command typed again: the run goes on exactly where it was
            f"--learning-rate {saved.learning_rate:g} is the rate this run started at; it goes on at its current "
            f"{current:.6g} (lowered on plateaus): give another rate to change it"
        )
    if config != saved:
        checkpoint.save_config(out, config)
    start = Start(int(restored["epoch"]), int(restored.get("step", 0)), restored)
    checkpoint.trim_history(out, start.epoch)
    if restored.get("stopped") and not {"patience", "min_delta"} & set(changed):
        console.print(
            f"{out}: early stopping ended this run at epoch {start.epoch}; "
            "pass a larger --patience or a smaller --min-delta to go on"
        )
        return None
    if start.epoch >= config.num_epochs:
        console.print(f"{out}: training already finished at epoch {start.epoch}; pass a larger --num-epochs to go on")
        return None
    return start


def _fit(
    model: keras.Model,
    data: DataFolder,
    out: Path,
    config: Config,
    start: Start,
    callbacks: Callbacks,
    train_batches,
    val_batches,
    console: Console,
) -> None:
    """Fit to the last epoch, first finishing an interrupted one from the batch after the last saved."""
    fit = functools.partial(model.fit, validation_data=val_batches, callbacks=callbacks.all, verbose=0, shuffle=False)
    epoch = start.epoch
    try:
        with callbacks.stop_on_interrupt.installed():
            if start.step:
                console.print(f"resuming epoch {epoch + 1} at batch {start.step + 1}")
                callbacks.save_state.first = start.step
                callbacks.progress.steps = len(train_batches) - start.step
                rest = data.batches("train", config.batch_size, config.seq_len, first=start.step)
                fit(rest, epochs=epoch + 1, initial_epoch=epoch)
                callbacks.progress.steps = len(train_batches)
                epoch += 1
            if epoch < config.num_epochs and not model.stop_training:
                fit(train_batches, epochs=config.num_epochs, initial_epoch=epoch)
        if model.stop_training and callbacks.progress.epoch < config.num_epochs:
            console.print(
                f"early stopping after epoch {callbacks.progress.epoch} of {config.num_epochs}: val_loss fell less "
                f"than --min-delta {config.min_delta:g} for --patience {config.patience} epochs; the best model "
                f"(val_loss {callbacks.best_model.best:.4f}) is kept"
            )
    except KeyboardInterrupt:  # Ctrl-C: say what is kept and how to go on
        callbacks.progress.on_train_end()
        console.print(_resume_hint(data.path, out, callbacks.save_state.restored))
        raise
    except RuntimeError as error:
        if "NaN or Inf loss" not in str(error):
            raise
        callbacks.progress.on_train_end()
        saved = callbacks.best_model.best is not None
        kept = "the best model and the last good state are kept" if saved else "nothing was saved"
        raise BotError(
            f"{out}: the loss became NaN or infinite in epoch {callbacks.progress.epoch} ({kept}); "
            "train again with a lower --learning-rate or --clip-norm"
        ) from error


def check_memory(config: Config) -> None:
    """Refuse a model that cannot fit in this machine's memory before building it: weights, gradients and
    two optimizer slots in float32 (a 10-million-unit LSTM took 14 GB before failing)."""
    needed = 16 * parameters(config)
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
