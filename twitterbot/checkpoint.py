"""The checkpoint folder: everything generation, evaluation and export need, plus the resumable state.

config.json  vocab.json  model.weights.h5 (best)  history.csv  loss.png  logs/
state/  last.weights.h5 (weights + optimizer)  state.json (epoch, LR, callback state)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras

from . import fsutil
from .config import BUNDLED, Config
from .errors import BotError
from .model import build_model
from .vocab import Vocab

REQUIRED = ("config.json", "vocab.json", "model.weights.h5")
STATE = "state"


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    config: Config
    vocab: Vocab

    @property
    def weights(self) -> Path:
        return self.path / "model.weights.h5"

    def load_model(self, batch_size: int, seq_len: int | None = None) -> keras.Model:
        """The model rebuilt for `batch_size` parallel streams, with the best weights."""
        model = build_model(self.config, batch_size, seq_len)
        try:
            model.load_weights(self.weights)
        except (OSError, ValueError, KeyError) as error:
            raise BotError(f"{self.weights}: cannot load weights ({error})") from error
        return model


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
    return Checkpoint(path, config, vocab)


def state_dir(path: Path) -> Path | None:
    """The newest complete training state, falling back to the one kept aside during a swap."""
    for candidate in (path / STATE, path / f".{STATE}.old"):
        if (candidate / "state.json").is_file() and (candidate / "last.weights.h5").is_file():
            return candidate
    return None


def save_state(path: Path, model: keras.Model, state: dict) -> None:
    """Write weights + optimizer + counters as one unit: the previous state stays until this one is whole."""
    with fsutil.staged_dir(path / STATE) as staging:
        model.save_weights(staging / "last.weights.h5")
        fsutil.fsync_path(staging / "last.weights.h5")
        fsutil.write_json(staging / "state.json", state)


def load_state(path: Path, model: keras.Model) -> dict:
    """Restore weights and optimizer into a compiled model; return the saved counters."""
    found = state_dir(path)
    if found is None:
        raise BotError(f"{path}: nothing to restore, {STATE}/ has no complete training state")
    state = fsutil.read_json(found / "state.json")
    try:
        model.load_weights(found / "last.weights.h5")
    except (OSError, ValueError, KeyError) as error:
        raise BotError(f"{found / 'last.weights.h5'}: cannot load ({error})") from error
    return state
