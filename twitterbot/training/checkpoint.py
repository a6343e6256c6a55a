"""The checkpoint folder: everything generation, evaluation and export need, plus the resumable state.

config.json  vocab.json  model.weights.h5 (best)  start_state.npz (its tweet-start state)  history.csv  loss.png  logs/
state/  last.weights.h5 (weights + optimizer)  lstm_rng_states.npz  state.json (epoch, batch, LR, callback state)
state.prev/  the state before it, kept in case the last one is damaged
"""

from __future__ import annotations

import csv
import math
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from twitterbot import fsutil
from twitterbot.config import BUNDLED, Config
from twitterbot.corpus.novelty import FILE as NOVELTY_FILE
from twitterbot.corpus.novelty import NoveltyIndex
from twitterbot.corpus.vocab import FILE as VOCAB_FILE
from twitterbot.corpus.vocab import Vocab
from twitterbot.corpus.words import FILE as WORDS_FILE
from twitterbot.corpus.words import WordSet
from twitterbot.errors import BotError
from twitterbot.training.lstm import (
    LstmWeights,
    ModelWeights,
    refuse_links,
    require_finite,
    tweet_start_state,
    weight_shapes,
)

if TYPE_CHECKING:  # Keras is imported by what builds a model, not by opening a checkpoint to sample from it
    import keras

CONFIG = "config.json"
VOCAB = VOCAB_FILE
WEIGHTS = "model.weights.h5"  # the best epoch's, by validation loss
START_STATE = "start_state.npz"  # the best weights' tweet-start state (lstm.tweet_start_state): generation starts there
HISTORY = "history.csv"
LOSS_PLOT = "loss.png"
LOGS = "logs"  # TensorBoard
STATE = "state"
PREVIOUS_STATE = "state.prev"
STATE_WEIGHTS = "last.weights.h5"
COUNTERS = "state.json"
RNG_STATES = "lstm_rng_states.npz"
NOVELTY = NOVELTY_FILE  # the training tweets' index, copied from the data folder (novelty filter)
WORDS = WORDS_FILE  # the words it knows (the non-word filter): the data folder's, and a fine-tune's base's
POST_LOG = "posted.jsonl"  # what `bot post` posted with this model, so nothing is posted twice
REQUIRED = (CONFIG, VOCAB, WEIGHTS)
RECORDS = (CONFIG, VOCAB, HISTORY, LOSS_PLOT)  # what a copy of a checkpoint (the bundled model) keeps besides weights


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    config: Config
    vocab: Vocab

    @property
    def weights(self) -> Path:
        return self.path / WEIGHTS

    @property
    def post_log(self) -> Path:
        """Where `bot post` records what it posted with this model: beside it, or for the bundled model
        (inside the installed package) in the current folder."""
        return Path(POST_LOG) if self.path == BUNDLED else self.path / POST_LOG

    def start_state(self) -> list[np.ndarray] | None:
        """[h, c, ...] (one row each) that generation starts a tweet from; None for a checkpoint written
        before they were kept (generation then starts from zeros, as it did)."""
        path = self.path / START_STATE
        if not path.is_file():
            return None
        try:
            saved = fsutil.read_npz(path)
            state = [saved[key].astype(np.float32) for key in sorted(saved, key=_array_index)]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            raise BotError(f"{path}: cannot read the tweet-start state ({error}); delete it to start from zeros") from (
                error
            )
        check_start_state(
            state, self.config, f"{path}: not a tweet-start state of this model; delete it to start from zeros"
        )
        return state

    def novelty(self) -> NoveltyIndex | None:
        """The index of the tweets it was trained on, where the data folder had one."""
        return NoveltyIndex.load(self.path / NOVELTY) if (self.path / NOVELTY).is_file() else None

    def words(self) -> WordSet | None:
        """The words of the tweets it learned from (a fine-tune: its base's too), where it has them."""
        return WordSet.load(self.path / WORDS) if (self.path / WORDS).is_file() else None

    def load_model(self, batch_size: int, seq_len: int | None = None, weights: Path | None = None) -> keras.Model:
        """The model rebuilt for `batch_size` parallel streams, with the best weights (or `weights`)."""
        from twitterbot.training.model import build_model, load_weights_only

        model = build_model(self.config, batch_size, seq_len)
        weights = weights or self.weights
        try:
            load_weights_only(model, weights)
        except (OSError, ValueError, KeyError) as error:
            raise BotError(f"{weights}: cannot load weights ({error})") from error
        require_finite(weights, (w.numpy() for w in model.weights))
        return model


def is_checkpoint(path: Path) -> bool:
    """Whether a folder is a checkpoint twitterbot wrote (maybe one whose first epoch never finished)."""
    return (Path(path) / CONFIG).is_file() and (Path(path) / VOCAB).is_file()


def create(
    path: Path,
    config: Config,
    vocab: Vocab,
    novelty: Path | NoveltyIndex | None = None,
    words: WordSet | None = None,
) -> None:
    """A fresh checkpoint folder with the run's config and vocabulary (and the training tweets' novelty
    index: a data folder's file, if it has one, or an index read elsewhere; and the words it knows); an
    existing one is replaced."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    save_config(path, config)
    vocab.save(path / VOCAB)
    if isinstance(novelty, NoveltyIndex):
        novelty.save(path / NOVELTY)
    elif novelty is not None and novelty.is_file():
        with fsutil.atomic_path(path / NOVELTY) as tmp:
            shutil.copyfile(novelty, tmp)
    if words is not None:
        words.save(path / WORDS)


def check_start_state(state: list[np.ndarray], config: Config, problem: str) -> None:
    """Refuse (with `problem`) a tweet-start state that is not one finite row per h and c of each layer."""
    expected = [(1, config.rnn_size)] * (2 * config.num_layers)
    if [part.shape for part in state] != expected or not all(np.isfinite(part).all() for part in state):
        raise BotError(problem)


def write_start_state(path: Path, config: Config, stream: np.ndarray, weights: Path | None = None) -> None:
    """Compute the tweet-start state of a checkpoint's best weights (or `weights`) over a training
    stream, and write it beside them (replacing it atomically; removed where the stream has no tweet end)."""
    folded = LstmWeights.fold(ModelWeights.read(weights or path / WEIGHTS, config))
    state = tweet_start_state(folded, stream)
    if state is None:
        (path / START_STATE).unlink(missing_ok=True)
        return
    save_start_state(path, state)


def save_weights(path: Path, model: keras.Model) -> None:
    """Write a model's weights as the checkpoint's best (a model built elsewhere: import-web), atomically."""
    with fsutil.atomic_path(path / WEIGHTS) as tmp:
        model.save_weights(tmp)


def save_start_state(path: Path, state: list[np.ndarray]) -> None:
    """Write a checkpoint's tweet-start state ([h, c] of each layer, one row each), atomically."""
    with fsutil.atomic_path(path / START_STATE) as tmp, open(tmp, "wb") as stream:
        np.savez(stream, *state)


def save_config(path: Path, config: Config) -> None:
    config.save(path / CONFIG)


def open_run(path: Path) -> tuple[Config, Vocab]:
    """The settings and vocabulary of a run to go on with (`--restore`), which may have no best weights yet."""
    if not (path / CONFIG).is_file():
        raise BotError(f"{path}: nothing to restore (no {CONFIG}); start a fresh run without --restore")
    return Config.load(path / CONFIG), Vocab.load(path / VOCAB)


def last_state_weights(path: Path) -> Path:
    """The weights of the newest complete training state (a run stopped within its first epoch has no best)."""
    found = state_dirs(path)
    if not found:
        raise BotError(f"{path}: no complete training state in {STATE}/")
    return found[0] / STATE_WEIGHTS


def read_history(path: Path) -> list[dict]:
    """history.csv as one dict per epoch (epoch, loss, val_loss, learning_rate)."""
    header, rows = _history_rows(Path(path) / HISTORY)
    return [{key: float(value) for key, value in zip(header, row, strict=True)} for row in rows]


def trim_history(path: Path, epochs: int) -> None:
    """Keep only whole rows of the epochs a restored state covers, so no epoch appears twice or half."""
    history = Path(path) / HISTORY
    if not history.exists():
        return
    header, rows = _history_rows(history)
    if not {"epoch", "loss", "val_loss"} <= set(header):  # killed before or while the header was written:
        history.unlink()  # no rows came after it, and Keras's CSVLogger writes a header only into an empty file
        return
    with fsutil.atomic_path(history) as tmp, open(tmp, "w", newline="") as stream:
        csv.writer(stream).writerows([header] + rows[:epochs])  # "\r\n" rows, as CSVLogger appends them


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


def weights_bytes(model: keras.Model, optimizer: bool = False) -> int:
    """About what a weights file of `model` (and its optimizer's slots) takes on disk, with room for HDF5's own."""
    variables = list(model.weights) + (list(model.optimizer.variables) if optimizer and model.optimizer else [])
    data = sum(math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in variables)
    return 2 * data + (1 << 20)


def open_checkpoint(path: Path | None) -> Checkpoint:
    """Check a checkpoint folder's pieces; None means the bundled base model."""
    if path is None:
        if not (BUNDLED / WEIGHTS).is_file():
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
    config, vocab = Config.load(path / CONFIG), Vocab.load(path / VOCAB)
    if config.vocab_size != vocab.size:
        raise BotError(f"{path}: config.json says {config.vocab_size} ids, vocab.json has {vocab.size}")
    _check_weight_shapes(path / WEIGHTS, config)
    return Checkpoint(path, config, vocab)


def _check_weight_shapes(weights: Path, config: Config) -> None:
    """The weights file must hold exactly the weights config.json describes."""
    found: list[tuple[int, ...]] = []

    def collect(_: str, item: object) -> None:
        if isinstance(item, h5py.Dataset):
            found.append(item.shape)

    try:
        with h5py.File(weights, "r") as h5:
            refuse_links(h5, weights)
            h5["layers"].visititems(collect)
    except (OSError, KeyError, TypeError, RuntimeError) as error:  # h5py: RuntimeError for a damaged heap
        raise BotError(f"{weights}: cannot load weights ({str(error)[:200]})") from None
    if sorted(found) != sorted(weight_shapes(config)):
        raise BotError(
            f"{weights}: the weights do not match config.json ({config.num_layers} layer(s) of {config.rnn_size} "
            f"units, embedding {config.embedding_size}, {config.vocab_size} ids): a damaged or mixed-up checkpoint"
        )


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
    saved = fsutil.read_npz(path)
    for variable, key in zip(_unsaved_variables(model), sorted(saved, key=_array_index), strict=True):
        variable.assign(saved[key])


def _unsaved_variables(model: keras.Model) -> list:
    """What weight files leave out but an exact resume needs: the stateful LSTMs' (h, c) and the
    dropout layers' random-number generator states."""
    from twitterbot.training.model import lstm_layers

    lstm_states = [v for layer in lstm_layers(model) for v in layer.states]
    return lstm_states + [v for v in model.variables if v.path.endswith("seed_generator_state")]


def _array_index(name: str) -> int:
    return int(name.removeprefix("arr_"))
