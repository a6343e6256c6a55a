"""The data folder `bot prepare` writes and training, evaluation and fine-tuning read: its one owner.

data.h5       one uint16 id stream per split (train, validate, test), tweets separated by <eot>
vocab.json    the vocabulary the ids stand for (also kept in data.h5's attributes)
prepare.json  what was read, how it was cleaned and split, and the summary
novelty.npz   the kept tweets' index for the novelty filter (novelty.py)
words.txt.gz  the kept tweets' words for the non-word filter (words.py)
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import h5py
import numpy as np

from twitterbot import fsutil
from twitterbot.corpus.novelty import FILE as NOVELTY_FILE
from twitterbot.corpus.vocab import EOT, Vocab
from twitterbot.corpus.vocab import FILE as VOCAB_FILE
from twitterbot.corpus.words import FILE as WORDS_FILE
from twitterbot.corpus.words import WordSet
from twitterbot.errors import BotError

if TYPE_CHECKING:  # batches imports Keras; preparing data must not wait for it
    from twitterbot.corpus.batches import LaneBatches

FORMAT_VERSION = 1
Split = Literal["train", "validate", "test"]
SPLITS = get_args(Split)
DATA = "data.h5"
VOCAB = VOCAB_FILE
SETTINGS = "prepare.json"
NOVELTY = NOVELTY_FILE  # the training tweets' index for the novelty filter (novelty.py)
WORDS = WORDS_FILE
_CHECK_IDS = 1 << 24  # ids read at once when checking a data file


@dataclass(frozen=True)
class DataFolder:
    """An opened, checked data folder."""

    path: Path
    vocab: Vocab
    lengths: dict[str, int]

    @property
    def h5_path(self) -> Path:
        return self.path / DATA

    def split(self, name: str) -> h5py.Dataset:
        """One split's id stream, read lazily."""
        try:
            return h5py.File(self.h5_path, "r")[name]
        except (OSError, KeyError) as error:
            raise BotError(f"{self.h5_path}: cannot read split {name!r} ({error})") from error

    def words(self) -> WordSet:
        """The words of every kept tweet (a folder prepared before they were kept: read from its ids)."""
        if (self.path / WORDS).is_file():
            return WordSet.load(self.path / WORDS)
        return stream_words(self.h5_path, self.vocab)

    def batches(self, split: str, batch_size: int, seq_len: int, first: int = 0) -> LaneBatches:
        """A split as stateful lanes of `batch_size` × `seq_len` windows, from batch `first` on. The lanes of
        validation and test start at tweets (batches.tweet_lanes), so a loss figure does not hang on where
        a lane was cut; training's tile the split end to end."""
        from twitterbot.corpus.batches import LaneBatches

        what = f"{self.path} split {split!r}"
        return LaneBatches(self.split(split), batch_size, seq_len, what=what, first=first, at_tweets=split != "train")


def is_data_folder(path: Path) -> bool:
    """Whether a folder is one `bot prepare` wrote (the only kind its --force replaces)."""
    return all((Path(path) / piece).is_file() for piece in (DATA, VOCAB, SETTINGS))


def open_data(path: Path) -> DataFolder:
    """Check a data folder's pieces and return it; a missing or damaged piece is named."""
    path = Path(path)
    if not path.is_dir():
        raise BotError(f"{path}: no such data folder (make one with `bot prepare`)")
    for piece in (DATA, VOCAB, SETTINGS):
        if not (path / piece).is_file():
            raise BotError(f"{path}: not a data folder, {piece} is missing (make one with `bot prepare`)")
    vocab = Vocab.load(path / VOCAB)
    try:
        with h5py.File(path / DATA, "r") as h5:
            if h5.attrs.get("format_version") != FORMAT_VERSION:
                raise BotError(
                    f"{path / DATA}: format version {h5.attrs.get('format_version')} is not {FORMAT_VERSION}"
                )
            if h5.attrs.get("vocab_hash") != vocab.hash:
                raise BotError(f"{path}: {VOCAB} does not match {DATA} (different vocabulary hash)")
            lengths = {name: int(h5[name].shape[0]) for name in SPLITS}
            for name in SPLITS:
                _check_stored(h5[name], f"{path / DATA} split {name!r}")
                _check_ids(h5[name], vocab.size, f"{path / DATA} split {name!r}")
    except (OSError, KeyError) as error:
        raise BotError(f"{path / DATA}: damaged or not a twitterbot data file ({error})") from error
    return DataFolder(path, vocab, lengths)


def _check_stored(split: h5py.Dataset, what: str) -> None:
    """Refuse a split that declares more ids than its file stores: HDF5 makes up the rest from a fill value,
    so a few hundred bytes could declare 10^12 ids to read (prepare writes every id, uncompressed)."""
    stored = split.id.get_storage_size()
    if split.ndim != 1 or stored < split.size * split.dtype.itemsize:
        raise BotError(f"{what}: declares {split.size:,} ids but stores {stored:,} bytes (damaged)")


def write_subset(data: DataFolder, folder: Path, chars: int) -> Path:
    """A data folder of `data`'s first `chars` training characters (validation and test: a tenth of that, at
    least 10,000), for a search's short trials; one already there is kept (a resumed search's)."""
    if (folder / DATA).is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(data.path / VOCAB, folder / VOCAB)
    shutil.copyfile(data.path / SETTINGS, folder / SETTINGS)
    sizes = {"train": chars, "validate": max(chars // 10, 10_000), "test": max(chars // 10, 10_000)}
    with h5py.File(data.h5_path, "r") as source, fsutil.atomic_path(folder / DATA) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs.update(source.attrs)
        for name in SPLITS:
            h5.create_dataset(name, data=source[name][: sizes[name]])
    return folder


def stream_words(h5_path: Path, vocab: Vocab) -> WordSet:
    """The words of a data file's tweets, every split, as the model reads them (rare characters as <unk>)."""
    with h5py.File(h5_path, "r") as h5:
        return WordSet.of(vocab.decode_stream(ids) for name in SPLITS for ids in _whole_tweets(h5[name]))


def stream_tweets(h5_path: Path, vocab: Vocab) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A data file's tweets, every split, as the model reads them: (code points back to back, each tweet's
    length) blocks, as NoveltyIndex.build takes them."""
    with h5py.File(h5_path, "r") as h5:
        for name in SPLITS:
            for ids in _whole_tweets(h5[name]):
                ends = np.flatnonzero(ids == EOT)  # each tweet ends at <eot> (a sound file has nothing after)
                if len(ends):
                    text = vocab.decode(ids[: ends[-1]])
                    yield np.frombuffer(text.encode("utf-32-le"), "<u4"), np.diff(ends, prepend=-1) - 1


def _whole_tweets(stream: h5py.Dataset) -> Iterator[np.ndarray]:
    """A split's ids in blocks of about _CHECK_IDS, each cut after an <eot>, so no word is cut in two."""
    rest = np.zeros(0, stream.dtype)
    for start in range(0, stream.shape[0], _CHECK_IDS):
        block = np.concatenate([rest, stream[start : start + _CHECK_IDS]])
        ends = np.flatnonzero(block == EOT)
        cut = int(ends[-1]) + 1 if len(ends) else 0
        yield block[:cut]
        rest = block[cut:]
    yield rest


def _check_ids(stream: h5py.Dataset, vocab_size: int, what: str) -> None:
    """Every id must be in the vocabulary: an id past it silently gave NaN losses on JAX (no bounds check)."""
    for start in range(0, stream.shape[0], _CHECK_IDS):
        largest = int(stream[start : start + _CHECK_IDS].max())
        if largest >= vocab_size:
            raise BotError(f"{what}: id {largest} is outside the vocabulary of {vocab_size}: a damaged data file")


def require_vocab(data: DataFolder, vocab: Vocab, owner: Path) -> None:
    """Refuse data encoded with another vocabulary: its ids would silently stand for other characters."""
    if data.vocab.hash != vocab.hash:
        raise BotError(
            f"{data.path}: not encoded with the vocabulary of {owner} (the vocabulary differs); prepare it with "
            f"`bot prepare INPUT... --vocab {owner} --out {data.path} --force`"
        )
