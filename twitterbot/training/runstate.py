"""A training run's resumable state inside a checkpoint folder (`bot train --restore`): written as one
unit after each epoch and every --save-every batches, the one before it kept in case the last is damaged.

state/       last.weights.h5 (weights + optimizer)  lstm_rng_states.npz (LSTM and dropout RNG states)
             state.json (epochs and batches done, learning rate, the callbacks' counters)
state.prev/  the state before it
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from twitterbot import fsutil
from twitterbot.errors import BotError
from twitterbot.training.checkpoint import weights_bytes

if TYPE_CHECKING:
    import keras

STATE = "state"
PREVIOUS_STATE = "state.prev"
STATE_WEIGHTS = "last.weights.h5"
COUNTERS = "state.json"
RNG_STATES = "lstm_rng_states.npz"


def last_state_weights(path: Path) -> Path:
    """The weights of the newest complete training state (a run stopped within its first epoch has no best)."""
    found = state_dirs(path)
    if not found:
        raise BotError(f"{path}: no complete training state in {STATE}/")
    return found[0] / STATE_WEIGHTS


def state_dirs(path: Path) -> list[Path]:
    """Complete training states, newest first: the last one, the one before it (kept as a fallback),
    and one left aside by a crash in the middle of a swap."""
    candidates = (path / STATE, path / f".{STATE}.old", path / PREVIOUS_STATE)
    return [c for c in candidates if (c / COUNTERS).is_file() and (c / STATE_WEIGHTS).is_file()]


def save_state(path: Path, model: keras.Model, state: dict) -> None:
    """Write weights + optimizer + LSTM and RNG states + counters as one unit; the previous one stays as a fallback."""
    fsutil.require_free(path, weights_bytes(model, optimizer=True), "the training state")
    with fsutil.staged_dir(path / STATE, keep=path / PREVIOUS_STATE) as staging:
        model.save_weights(staging / STATE_WEIGHTS)
        fsutil.fsync_path(staging / STATE_WEIGHTS)
        with open(staging / RNG_STATES, "wb") as stream:
            np.savez(stream, *(v.numpy() for v in _unsaved_variables(model)))
        fsutil.fsync_path(staging / RNG_STATES)
        fsutil.write_json(staging / COUNTERS, state)


def load_state(path: Path, model: keras.Model, warn: Callable[[str], None] = print) -> dict:
    """Restore weights, optimizer, LSTM and RNG states into a compiled model; return the saved counters.

    A damaged state is reported through `warn` and the one before it is used instead.
    """
    found = state_dirs(path)
    if not found:
        raise BotError(f"{path}: nothing to restore, {STATE}/ has no complete training state")
    problems = []
    for folder in found:
        try:
            state = _checked_state(folder / COUNTERS)
            model.load_weights(folder / STATE_WEIGHTS)
            _load_unsaved_variables(folder, model, state, warn)
        except (BotError, OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as error:
            problems.append(f"{folder}: {error}")
            continue
        if problems:
            warn(f"damaged training state skipped ({'; '.join(problems)}); restoring {folder} instead")
        return state
    raise BotError(f"no loadable training state in {path}: {'; '.join(problems)}")


_STATE_TYPES = {
    "epoch": int,
    "learning_rate": (int, float),
    "early_stopping": dict,
    "reduce_lr": dict,
    "best_val_loss": (int, float, type(None)),
}
_COUNTERS = {"early_stopping": ("wait", "best", "best_epoch"), "reduce_lr": ("wait", "best", "cooldown_counter")}


def _checked_state(path: Path) -> dict:
    """state.json with every counter of the type training reads (a damaged one falls back to state.prev)."""
    state = fsutil.read_json(path)
    wrong = [key for key, kind in _STATE_TYPES.items() if not isinstance(state.get(key), kind) or state[key] is True]
    wrong += [] if isinstance(state.get("step", 0), int) else ["step"]
    for key, names in _COUNTERS.items():
        counters = state.get(key) if isinstance(state.get(key), dict) else {}
        wrong += [
            f"{key}.{name}"
            for name in names
            if not isinstance(counters.get(name), (int, float, type(None))) or isinstance(counters.get(name), bool)
        ]
    if wrong or state["epoch"] < 0 or state.get("step", 0) < 0:
        raise BotError(f"{path}: damaged ({', '.join(wrong) or 'negative epoch or step'} not as saved)")
    return state


def _load_unsaved_variables(folder: Path, model: keras.Model, state: dict, warn: Callable[[str], None]) -> None:
    """Assign the saved LSTM and RNG states. States written before twitterbot saved them (no
    lstm_rng_states.npz, always at an epoch's end) still resume: the epoch starts from zero LSTM
    state anyway, only the dropout draws differ from an uninterrupted run."""
    path = folder / RNG_STATES
    if not path.exists() and not state.get("step"):
        warn(f"{folder} was saved by an older twitterbot without {RNG_STATES}: resuming with fresh dropout draws")
        return
    for variable, saved in zip(_unsaved_variables(model), fsutil.read_npz_list(path), strict=True):
        variable.assign(saved)


def _unsaved_variables(model: keras.Model) -> list:
    """What weight files leave out but an exact resume needs: the stateful LSTMs' (h, c) and the
    dropout layers' random-number generator states."""
    from twitterbot.training.model import lstm_layers

    lstm_states = [v for layer in lstm_layers(model) for v in layer.states]
    return lstm_states + [v for v in model.variables if v.path.endswith("seed_generator_state")]
