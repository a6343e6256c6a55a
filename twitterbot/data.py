"""`bot prepare`: read, clean, de-duplicate, split by tweet, encode, and write a data folder.

The folder holds `data.h5` (one uint16 id stream per split, tweets separated by <eot>), `vocab.json`
and `prepare.json`. Memory stays flat as input grows: cleaned tweets are spooled to a temp file and
encoded in chunks; only 17 bytes per kept tweet (offset, hash, split label) stay in memory.
"""

from __future__ import annotations

import json
import tempfile
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from . import fsutil, sources
from .clean import CleanOptions, clean_tweet
from .errors import BotError
from .vocab import CODE_POINTS, EOT, UNK, Vocab

FORMAT_VERSION = 1
SPLITS = ("train", "validate", "test")
_CHUNK_BYTES = 8 << 20
_H5_CHUNK = 1 << 16

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


@dataclass
class PrepareSummary:
    """What `bot prepare` read, kept and dropped, for the printed summary and prepare.json."""

    files: dict[str, int] = field(default_factory=dict)  # tweets read per input file
    dropped: Counter = field(default_factory=Counter)  # by reason
    kept: int = 0
    tweets: dict[str, int] = field(default_factory=dict)  # per split
    chars: dict[str, int] = field(default_factory=dict)  # ids per split, <eot> included
    characters: int = 0  # characters kept, <eot> not counted
    unknown_chars: int = 0  # of those, mapped to <unk>
    input_bytes: int = 0
    vocab_size: int = 0
    coverage: float = 0.0

    def to_dict(self) -> dict:
        return {
            "files": self.files,
            "read": sum(self.files.values()),
            "dropped": dict(self.dropped),
            "kept": self.kept,
            "tweets": self.tweets,
            "chars": self.chars,
            "characters": self.characters,
            "unknown_chars": self.unknown_chars,
            "input_bytes": self.input_bytes,
            "vocab_size": self.vocab_size,
            "coverage": self.coverage,
        }


@dataclass(frozen=True)
class DataFolder:
    """An opened, checked data folder."""

    path: Path
    vocab: Vocab
    lengths: dict[str, int]

    @property
    def h5_path(self) -> Path:
        return self.path / "data.h5"


def split_fractions(validate: float, test: float) -> tuple[float, float, float]:
    if validate < 0 or test < 0 or validate + test >= 1:
        raise BotError(f"--validate and --test must be ≥0 and leave some training data (got {validate}, {test})")
    return 1 - validate - test, validate, test


def prepare(
    inputs: list[str],
    out: Path,
    options: CleanOptions = CleanOptions(),
    validate: float = 0.05,
    test: float = 0.05,
    seed: int = 0,
    coverage: float = 0.999,
    max_vocab: int | None = None,
    vocab: Vocab | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> PrepareSummary:
    """Turn tweet files into a data folder at `out`; nothing is written there unless all succeeds."""
    fractions = split_fractions(validate, test)
    vocab_given = vocab is not None
    out = Path(out)
    fsutil.refuse_existing(out, force, "data folder")
    paths = sources.expand_inputs(inputs)
    summary = PrepareSummary(input_bytes=sum(p.stat().st_size for p in paths))
    with tempfile.TemporaryDirectory(prefix=".prepare-", dir=out.parent if out.parent.exists() else None) as tmp:
        spool = Path(tmp) / "tweets.bin"
        offsets, hashes = _spool(paths, spool, options, summary, progress)
        keep = _first_occurrences(hashes) if options.dedupe else np.ones(len(hashes), bool)
        summary.dropped["duplicate"] += int((~keep).sum())
        summary.kept = int(keep.sum())
        if summary.kept == 0:
            raise BotError(f"no tweets left after cleaning ({_dropped_text(summary)}) in {', '.join(inputs)}")
        if vocab is None:
            counts = np.zeros(CODE_POINTS, np.int64)
            for chunk, _ in _kept_chunks(spool, offsets, keep):
                counts += np.bincount(_code_points_of(chunk), minlength=CODE_POINTS)
            vocab = Vocab.from_counts(counts, coverage, max_vocab)
        labels = _split_labels(summary.kept, fractions, seed)
        with fsutil.staged_dir(out) as staging:
            _encode(spool, offsets, keep, labels, vocab, staging / "data.h5", summary)
            summary.vocab_size = vocab.size
            summary.coverage = 1 - summary.unknown_chars / max(summary.characters, 1)  # of this data
            vocab.save(staging / "vocab.json")
            settings = {
                "format_version": FORMAT_VERSION,
                "inputs": [str(p) for p in paths],
                "clean": options.to_dict(),
                "split": dict(zip(SPLITS, fractions, strict=True)),
                "seed": seed,
                "coverage": coverage,
                "max_vocab": max_vocab,
                "vocab_given": vocab_given,
                "summary": summary.to_dict(),
            }
            fsutil.write_json(staging / "prepare.json", settings)
            with h5py.File(staging / "data.h5", "a") as h5:
                h5.attrs["format_version"] = FORMAT_VERSION
                h5.attrs["vocab_hash"] = vocab.hash
                h5.attrs["vocab"] = json.dumps(vocab.to_dict(), ensure_ascii=False)
                h5.attrs["prepare"] = json.dumps(settings, ensure_ascii=False)
    return summary


def _spool(
    paths: list[Path], spool: Path, options: CleanOptions, summary: PrepareSummary, progress: Progress | None
) -> tuple[np.ndarray, np.ndarray]:
    """Read and clean every record, append kept texts to the spool file; return offsets and hashes."""
    offsets, hashes = array("Q", [0]), array("Q")
    with open(spool, "wb") as out:
        before = 0  # bytes of the files already read
        for path in paths:
            size = path.stat().st_size
            in_file = 0

            def advance(count: int, before: int = before, size: int = size) -> None:
                nonlocal in_file
                in_file += count
                if progress:
                    progress(before + min(in_file, size), summary.input_bytes)

            read = 0
            for record in sources.read_records(path, advance):
                read += 1
                text, reason = clean_tweet(record.text, options)
                if reason:
                    summary.dropped[reason] += 1
                    continue
                data = text.encode("utf-8")
                out.write(data)
                offsets.append(offsets[-1] + len(data))
                hashes.append(hash(data) & 0xFFFFFFFFFFFFFFFF)  # 64 bits: collisions are ~n²/2⁶⁵
            summary.files[str(path)] = read
            before += size
    return np.frombuffer(offsets, np.uint64).astype(np.int64), np.frombuffer(hashes, np.uint64)


def _first_occurrences(hashes: np.ndarray) -> np.ndarray:
    """True for the first copy of every distinct tweet (by 64-bit hash), False for later copies."""
    keep = np.zeros(len(hashes), bool)
    keep[np.unique(hashes, return_index=True)[1]] = True
    return keep


def _split_labels(count: int, fractions: tuple[float, float, float], seed: int) -> np.ndarray:
    """A seeded, shuffled split label per kept tweet with exact counts; small non-zero splits get ≥1."""
    sizes = [int(round(count * f)) for f in fractions[1:]]
    sizes = [max(size, 1) if f > 0 and count >= 3 else size for size, f in zip(sizes, fractions[1:], strict=True)]
    if count - sum(sizes) < 1:
        raise BotError(f"only {count} tweets: too few to split into train/validate/test")
    labels = np.zeros(count, np.uint8)
    labels[: sizes[0]] = 1
    labels[sizes[0] : sizes[0] + sizes[1]] = 2
    np.random.default_rng(seed).shuffle(labels)
    return labels


def _kept_chunks(spool: Path, offsets: np.ndarray, keep: np.ndarray) -> Iterator[tuple[bytes, np.ndarray]]:
    """The spooled UTF-8 bytes of kept tweets in ~8 MB chunks, with each kept tweet's byte length."""
    lengths = np.diff(offsets)
    with open(spool, "rb") as stream:
        start = 0
        while start < len(lengths):
            end = int(np.searchsorted(offsets, offsets[start] + _CHUNK_BYTES, side="right"))
            end = max(end - 1, start + 1)
            raw = np.frombuffer(stream.read(int(offsets[end] - offsets[start])), np.uint8)
            mask = keep[start:end]
            if not mask.all():
                raw = raw[np.repeat(mask, lengths[start:end])]
            yield raw.tobytes(), lengths[start:end][mask]
            start = end


def _code_points_of(data: bytes) -> np.ndarray:
    return np.frombuffer(data.decode("utf-8").encode("utf-32-le"), "<u4")


def _encode(
    spool: Path,
    offsets: np.ndarray,
    keep: np.ndarray,
    labels: np.ndarray,
    vocab: Vocab,
    h5_path: Path,
    summary: PrepareSummary,
) -> None:
    """Append each kept tweet's ids plus <eot> to its split's stream in the HDF5 file."""
    with h5py.File(h5_path, "w") as h5:
        streams = {
            name: h5.create_dataset(name, shape=(0,), maxshape=(None,), dtype=np.uint16, chunks=(_H5_CHUNK,))
            for name in SPLITS
        }
        first = 0
        for data, byte_lengths in _kept_chunks(spool, offsets, keep):
            raw = np.frombuffer(data, np.uint8)
            # Characters per tweet: count UTF-8 bytes that start a character.
            starts = np.concatenate(([0], np.cumsum(byte_lengths)[:-1]))
            char_lengths = np.add.reduceat((raw & 0xC0) != 0x80, starts).astype(np.int64)
            ids = vocab.lookup[_code_points_of(data)]
            summary.characters += len(ids)
            summary.unknown_chars += int((ids == UNK).sum())
            count = len(char_lengths)
            stream = np.empty(len(ids) + count, np.uint16)
            ends = np.cumsum(char_lengths + 1) - 1  # where each tweet's <eot> goes
            stream[ends] = EOT
            stream[np.arange(len(ids)) + np.repeat(np.arange(count), char_lengths)] = ids
            tweet_labels = labels[first : first + count]
            owner = np.repeat(tweet_labels, char_lengths + 1)
            for index, name in enumerate(SPLITS):
                part = stream[owner == index]
                dataset = streams[name]
                if len(part):
                    dataset.resize((dataset.shape[0] + len(part),))
                    dataset[-len(part) :] = part
                summary.tweets[name] = summary.tweets.get(name, 0) + int((tweet_labels == index).sum())
            first += count
        for name in SPLITS:
            summary.chars[name] = int(streams[name].shape[0])


def _dropped_text(summary: PrepareSummary) -> str:
    return ", ".join(f"{count} {reason}" for reason, count in summary.dropped.items()) or "nothing read"


def open_data(path: Path) -> DataFolder:
    """Check a data folder's pieces and return it; a missing or damaged piece is named."""
    path = Path(path)
    if not path.is_dir():
        raise BotError(f"{path}: no such data folder (make one with `bot prepare`)")
    for piece in ("data.h5", "vocab.json", "prepare.json"):
        if not (path / piece).is_file():
            raise BotError(f"{path}: not a data folder, {piece} is missing (make one with `bot prepare`)")
    vocab = Vocab.load(path / "vocab.json")
    try:
        with h5py.File(path / "data.h5", "r") as h5:
            if h5.attrs.get("format_version") != FORMAT_VERSION:
                raise BotError(
                    f"{path / 'data.h5'}: format version {h5.attrs.get('format_version')} is not {FORMAT_VERSION}"
                )
            if h5.attrs.get("vocab_hash") != vocab.hash:
                raise BotError(f"{path}: vocab.json does not match data.h5 (different vocabulary hash)")
            lengths = {name: int(h5[name].shape[0]) for name in SPLITS}
    except (OSError, KeyError) as error:
        raise BotError(f"{path / 'data.h5'}: damaged or not a twitterbot data file ({error})") from error
    return DataFolder(path, vocab, lengths)
