"""The checkpoint folder: everything generation, evaluation and export need. Every file in it is
written here, except `state/` and `state.prev/` (training.runstate: what --restore needs), `logs/`
(TensorBoard's own writer) and the post log (social.post.PostLog, its format's owner).

config.json  vocab.json  model.weights.h5 (best)  start_state.npz (its tweet-start state)  history.csv  loss.png
novelty.npz  words.txt.gz (the filters' indexes)  posted.jsonl (what `bot post` posted)  logs/  state/  state.prev/
"""

from __future__ import annotations

import csv
import math
import shutil
import zipfile
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
            state = [part.astype(np.float32) for part in fsutil.read_npz_list(path)]
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


def write_release(
    source: Checkpoint,
    target: Path,
    train_stream: np.ndarray,
    words: WordSet,
    novelty: NoveltyIndex,
    weights: Path | None = None,
) -> None:
    """A copy of a checkpoint to ship (the bundled model), replacing `target` as one unit: its records,
    its best weights (or `weights`) without optimizer slots and stored as float16 (Keras casts them back
    on load), the tweet-start state of those float16 weights read from `train_stream`, the words it
    knows and the index of its training tweets; nothing of the training state."""
    with fsutil.staged_dir(target) as staging:
        for piece in RECORDS:
            if (source.path / piece).exists():
                shutil.copyfile(source.path / piece, staging / piece)
        float32 = staging / "float32.weights.h5"  # Keras writes only to a name ending .weights.h5
        source.load_model(1, 1, weights).save_weights(float32)  # not compiled: no optimizer slots
        _float16_copy(float32, staging / WEIGHTS)
        float32.unlink()
        write_start_state(staging, source.config, train_stream)
        words.save(staging / WORDS)
        novelty.save(staging / NOVELTY)


def _float16_copy(source: Path, target: Path) -> None:
    """The same HDF5 weights file with every float32 array stored as float16."""
    with h5py.File(source, "r") as old, h5py.File(target, "w") as new:
        new.attrs.update(old.attrs)

        def copy(name: str, item) -> None:
            if isinstance(item, h5py.Dataset):
                data = item[()]
                new.create_dataset(name, data=data.astype(np.float16) if data.dtype == np.float32 else data)
            else:
                new.require_group(name)
            new[name].attrs.update(item.attrs)

        old.visititems(copy)


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


def save_best(path: Path, model: keras.Model, config: Config, train_stream: np.ndarray) -> None:
    """Write a new best model (training: the epoch with the lowest validation loss so far) and the
    tweet-start state of those weights, read from the training ids."""
    fsutil.require_free(path, weights_bytes(model), "the best model")
    save_weights(path, model)
    write_start_state(path, config, train_stream)


def save_weights(path: Path, model: keras.Model) -> None:
    """Write a model's weights as the checkpoint's best, atomically."""
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


def read_history(path: Path) -> list[dict]:
    """history.csv as one dict per epoch (epoch, loss, val_loss, learning_rate)."""
    header, rows = _history_rows(Path(path) / HISTORY)
    return [{key: float(value) for key, value in zip(header, row, strict=True)} for row in rows]


def append_history(path: Path, epoch: int, logs: dict) -> None:
    """Add an epoch's row (its losses and learning rate) to history.csv, rewritten atomically, and redraw
    loss.png from it. The columns are the first epoch's: `epoch`, then its logs' keys in order."""
    header, rows = _history_rows(Path(path) / HISTORY)
    header = header or ["epoch", *sorted(logs)]
    row = [str(epoch)] + [_history_value(logs.get(key)) for key in header[1:]]
    with fsutil.atomic_path(Path(path) / HISTORY) as tmp, open(tmp, "w", newline="") as stream:
        csv.writer(stream).writerows([header, *rows, row])
    write_loss_plot(path)


def _history_value(value) -> str:
    return "NA" if value is None else repr(float(value))


def write_loss_plot(path: Path) -> None:
    """Draw train and validation loss per epoch from history.csv to loss.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    history = read_history(path)
    if not history:
        return
    epochs = np.array([row["epoch"] + 1 for row in history])
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(epochs, [row["loss"] for row in history], marker="o", label="train")
    if "val_loss" in history[0]:
        axes.plot(epochs, [row["val_loss"] for row in history], marker="o", label="validation")
    axes.set(xlabel="epoch", ylabel="loss (nats/char)", title=Path(path).name)
    axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    axes.legend()
    with fsutil.atomic_path(Path(path) / LOSS_PLOT) as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(figure)


def trim_history(path: Path, epochs: int) -> None:
    """Keep only whole rows of the epochs a restored state covers, so no epoch appears twice or half."""
    history = Path(path) / HISTORY
    if not history.exists():
        return
    header, rows = _history_rows(history)
    if not {"epoch", "loss", "val_loss"} <= set(header):  # killed before or while the header was written (by
        history.unlink()  # Keras's CSVLogger, which wrote history.csv before append_history): no rows came after it
        return
    with fsutil.atomic_path(history) as tmp, open(tmp, "w", newline="") as stream:
        csv.writer(stream).writerows([header] + rows[:epochs])


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
