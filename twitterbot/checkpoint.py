"""The checkpoint folder: everything generation, evaluation and export need, plus the resumable state.

config.json  vocab.json  model.weights.h5 (best)  history.csv  loss.png  logs/
state/  last.weights.h5 (weights + optimizer)  lstm_rng_states.npz  state.json (epoch, batch, LR, callback state)
state.prev/  the state before it, kept in case the last one is damaged
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import keras
import numpy as np

from . import fsutil
from .config import BUNDLED, Config
from .errors import BotError
from .model import build_model, lstm_layers, weight_shapes
from .vocab import Vocab

REQUIRED = ("config.json", "vocab.json", "model.weights.h5")
STATE = "state"
PREVIOUS_STATE = "state.prev"
RNG_STATES = "lstm_rng_states.npz"


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    config: Config
    vocab: Vocab

    @property
    def weights(self) -> Path:
        return self.path / "model.weights.h5"

    def load_model(self, batch_size: int, seq_len: int | None = None, weights: Path | None = None) -> keras.Model:
        """The model rebuilt for `batch_size` parallel streams, with the best weights (or `weights`)."""
        model = build_model(self.config, batch_size, seq_len)
        weights = weights or self.weights
        try:
            with warnings.catch_warnings():  # a training state's optimizer slots are not wanted here
                warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
                model.load_weights(weights)
        except (OSError, ValueError, KeyError) as error:
            raise BotError(f"{weights}: cannot load weights ({error})") from error
        if not all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in model.weights):
            raise BotError(
                f"{weights}: weights are not finite numbers (NaN or infinity: the run diverged); "
                "train again with a lower --learning-rate"
            )
        return model


def is_checkpoint(path: Path) -> bool:
    """Whether a folder is a checkpoint twitterbot wrote (maybe one whose first epoch never finished)."""
    return (Path(path) / "config.json").is_file() and (Path(path) / "vocab.json").is_file()


def weights_bytes(model: keras.Model, optimizer: bool = False) -> int:
    """About what a weights file of `model` (and its optimizer's slots) takes on disk, with room for HDF5's own."""
    variables = list(model.weights) + (list(model.optimizer.variables) if optimizer and model.optimizer else [])
    data = sum(math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in variables)
    return 2 * data + (1 << 20)


def open_checkpoint(path: Path | None) -> Checkpoint:
    """Check a checkpoint folder's pieces; None means the bundled base model."""
    if path is None:
        if not (BUNDLED / "model.weights.h5").is_file():
            raise BotError(
                f"the bundled base model is missing from this install ({BUNDLED}): reinstall twitterbot, "
                "or pass a checkpoint folder made by `bot train`"
            )
        path = BUNDLED
    path = Path(path)
    if not path.is_dir():
        raise BotError(f"{path}: no such checkpoint folder (make one with `bot train`)")
    for piece in REQUIRED:
        if not (path / piece).is_file():
            raise BotError(f"{path}: not a checkpoint, {piece} is missing (make one with `bot train`)")
    config, vocab = Config.load(path / "config.json"), Vocab.load(path / "vocab.json")
    if config.vocab_size != vocab.size:
        raise BotError(f"{path}: config.json says {config.vocab_size} ids, vocab.json has {vocab.size}")
    _check_weight_shapes(path / "model.weights.h5", config)
    return Checkpoint(path, config, vocab)


def _check_weight_shapes(weights: Path, config: Config) -> None:
    """The weights file must hold exactly the weights config.json describes."""
    found: list[tuple[int, ...]] = []

    def collect(_: str, item: object) -> None:
        if isinstance(item, h5py.Dataset):
            found.append(item.shape)

    try:
        with h5py.File(weights, "r") as h5:
            h5["layers"].visititems(collect)
    except (OSError, KeyError, TypeError) as error:
        raise BotError(f"{weights}: cannot load weights ({error})") from error
    if sorted(found) != sorted(weight_shapes(config)):
        raise BotError(
            f"{weights}: the weights do not match config.json ({config.num_layers} layer(s) of {config.rnn_size} "
            f"units, embedding {config.embedding_size}, {config.vocab_size} ids): a damaged or mixed-up checkpoint"
        )


def state_dirs(path: Path) -> list[Path]:
    """Complete training states, newest first: the last one, the one before it (kept as a fallback),
    and one left aside by a crash in the middle of a swap."""
    candidates = (path / STATE, path / f".{STATE}.old", path / PREVIOUS_STATE)
    return [c for c in candidates if (c / "state.json").is_file() and (c / "last.weights.h5").is_file()]


def save_state(path: Path, model: keras.Model, state: dict) -> None:
    """Write weights + optimizer + LSTM and RNG states + counters as one unit; the previous one stays as a fallback."""
    fsutil.require_free(path, weights_bytes(model, optimizer=True), "the training state")
    with fsutil.staged_dir(path / STATE, keep=path / PREVIOUS_STATE) as staging:
        model.save_weights(staging / "last.weights.h5")
        fsutil.fsync_path(staging / "last.weights.h5")
        with open(staging / RNG_STATES, "wb") as stream:
            np.savez(stream, *(keras.ops.convert_to_numpy(v.value) for v in _unsaved_variables(model)))
        fsutil.fsync_path(staging / RNG_STATES)
        fsutil.write_json(staging / "state.json", state)


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
            state = _checked_state(folder / "state.json")
            model.load_weights(folder / "last.weights.h5")
            _load_unsaved_variables(folder, model, state, warn)
        except (BotError, OSError, ValueError, KeyError, TypeError, EOFError) as error:
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
    with np.load(path) as saved:
        for variable, key in zip(_unsaved_variables(model), sorted(saved.files, key=_array_index), strict=True):
            variable.assign(saved[key])


def _unsaved_variables(model: keras.Model) -> list:
    """What weight files leave out but an exact resume needs: the stateful LSTMs' (h, c) and the
    dropout layers' random-number generator states."""
    lstm_states = [v for layer in lstm_layers(model) for v in layer.states]
    return lstm_states + [v for v in model.variables if v.path.endswith("seed_generator_state")]


def _array_index(name: str) -> int:
    return int(name.removeprefix("arr_"))
