"""`bot prepare`: read, clean, de-duplicate, split by tweet, encode, and write a data folder.

The folder holds `data.h5` (one uint16 id stream per split, tweets separated by <eot>), `vocab.json`
and `prepare.json`. Memory stays flat as input grows: cleaned tweets are spooled to a temp file and
encoded in chunks. What stays in memory: a hash per distinct tweet (de-duplication) and 5 bytes per
kept tweet (length, split label).
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import multiprocessing
import os
import random
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from twitterbot import fsutil
from twitterbot.config import PrepareOptions
from twitterbot.corpus import sources
from twitterbot.corpus.clean import CleanOptions, clean_batch, clean_lines
from twitterbot.corpus.datafolder import (
    DATA,
    FORMAT_VERSION,
    NOVELTY,
    SETTINGS,
    SPLITS,
    VOCAB,
    WORDS,
    is_data_folder,
    stream_words,
)
from twitterbot.corpus.novelty import NoveltyIndex
from twitterbot.corpus.vocab import CODE_POINTS, EOT, UNK, Vocab, code_points
from twitterbot.errors import BotError

_CHUNK_BYTES = 2 << 20
_H5_CHUNK = 1 << 16
_PARALLEL_BYTES = 32 << 20  # below this, starting worker processes costs more than it saves

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


@dataclass
class PrepareSummary:
    """What `bot prepare` read, kept and dropped, for the printed summary and prepare.json."""

    files: dict[str, int] = field(default_factory=dict)  # tweets read per input file
    dropped: Counter = field(default_factory=Counter)  # by reason
    kept: int = 0
    tweets: dict[str, int] = field(default_factory=dict)  # per split
    ids: dict[str, int] = field(default_factory=dict)  # per split: its characters plus one <eot> per tweet
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
            "ids": self.ids,
            "characters": self.characters,
            "unknown_chars": self.unknown_chars,
            "input_bytes": self.input_bytes,
            "vocab_size": self.vocab_size,
            "coverage": self.coverage,
        }


def prepare(
    inputs: list[str],
    out: Path,
    options: CleanOptions = CleanOptions(),
    validate: float = PrepareOptions.validate,
    test: float = PrepareOptions.test,
    seed: int = PrepareOptions.seed,
    coverage: float = PrepareOptions.coverage,
    max_vocab: int | None = PrepareOptions.max_vocab,
    vocab: Vocab | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> PrepareSummary:
    """Turn tweet files into a data folder at `out`; nothing is written there unless all succeeds."""
    fractions = PrepareOptions(validate, test, coverage, max_vocab, seed).fractions  # checks them all
    vocab_given = vocab is not None
    out = Path(out)
    paths = sources.expand_inputs(inputs)
    given = [Path(item) for item in inputs if Path(item).exists()]
    fsutil.refuse_existing(out, force, "data folder", is_data_folder, inputs=[*given, *paths])
    spool_dir = out.parent if out.parent.exists() else Path(tempfile.gettempdir())
    for folder in {out.parent, spool_dir}:
        fsutil.sweep_stale(folder, out.name)  # what a killed prepare into `out` left
    summary = PrepareSummary(input_bytes=sum(p.stat().st_size for p in paths))
    with tempfile.TemporaryDirectory(prefix=fsutil.temp_prefix(out.name), suffix=".tmp", dir=spool_dir) as tmp:
        spool = Path(tmp) / "tweets.bin"
        blocks, lengths = _spool(paths, spool, options, summary, progress)
        summary.kept = len(lengths)
        if summary.kept == 0:
            raise BotError(f"no tweets left after cleaning ({_dropped_text(summary)}) in {', '.join(inputs)}")
        if vocab is None:
            counts = np.zeros(CODE_POINTS, np.int64)
            for points, _ in _chunks(spool, blocks, lengths):
                counts += np.bincount(points, minlength=CODE_POINTS)
            vocab = Vocab.from_counts(counts, coverage, max_vocab)
        labels = _split_labels(summary.kept, fractions, seed)
        ids = int(lengths.sum()) + summary.kept  # characters plus one <eot> per tweet, 2 bytes each
        fsutil.require_free(out.parent, 3 * ids + (1 << 20), str(out / DATA))  # and ~1 byte each of index
        with fsutil.staged_dir(out) as staging:
            _encode(_chunks(spool, blocks, lengths), labels, vocab, staging / DATA, summary)
            NoveltyIndex.build(_chunks(spool, blocks, lengths)).save(staging / NOVELTY)
            stream_words(staging / DATA, vocab).save(staging / WORDS)
            summary.vocab_size = vocab.size
            summary.coverage = 1 - summary.unknown_chars / max(summary.characters, 1)  # of this data
            vocab.save(staging / VOCAB)
            settings = {
                "format_version": FORMAT_VERSION,
                "inputs": [fsutil.shown(p) for p in paths],
                "clean": options.to_dict(),
                "split": dict(zip(SPLITS, fractions, strict=True)),
                "seed": seed,
                "coverage": coverage,
                "max_vocab": max_vocab,
                "vocab_given": vocab_given,
                "summary": summary.to_dict(),
            }
            fsutil.write_json(staging / SETTINGS, settings)
            with h5py.File(staging / DATA, "a") as h5:
                h5.attrs["format_version"] = FORMAT_VERSION
                h5.attrs["vocab_hash"] = vocab.hash
                h5.attrs["vocab"] = json.dumps(vocab.to_dict(), ensure_ascii=False)
                h5.attrs["prepare"] = json.dumps(settings, ensure_ascii=False)
    return summary


def _spool(
    paths: list[Path], spool: Path, options: CleanOptions, summary: PrepareSummary, progress: Progress | None
) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Read, clean and de-duplicate every file, appending kept texts to the spool file in blocks.

    Returns (bytes, tweets) per block and each kept tweet's length in characters.
    """
    blocks: list[tuple[int, int]] = []
    lengths: list[np.ndarray] = []
    seen: set[int] = set()  # 64-bit hashes of the tweets kept so far: collisions are ~n²/2⁶⁵
    processes = (os.cpu_count() or 1) if summary.input_bytes >= _PARALLEL_BYTES else 1
    with open(spool, "wb") as out, _Cleaners(options, processes) as cleaners:
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
            for cleaned in cleaners.map(sources.read_batches(path, advance)):
                read += cleaned.read
                summary.dropped.update(cleaned.dropped)
                data, char_lengths = cleaned.data, cleaned.char_lengths
                if options.dedupe:
                    fresh = _first_sightings(cleaned.hashes, seen)
                    summary.dropped["duplicate"] += int((~fresh).sum())
                    if not fresh.all():
                        data = _select(data, char_lengths, fresh) if fresh.any() else b""
                        char_lengths = char_lengths[fresh]
                if len(char_lengths):
                    out.write(data)
                    blocks.append((len(data), len(char_lengths)))
                    lengths.append(char_lengths)
            summary.files[fsutil.shown(path)] = read
            before += size
    return blocks, np.concatenate(lengths or [np.zeros(0, np.uint32)]).astype(np.int64)


@dataclass(frozen=True)
class _Cleaned:
    """One batch after cleaning, in the compact form worker processes send back."""

    read: int
    dropped: Counter
    data: bytes  # the kept tweets' UTF-8, back to back
    char_lengths: np.ndarray
    hashes: np.ndarray  # for de-duplication; equal texts hash equal within one run


def _clean(batch: sources.Batch, options: CleanOptions) -> _Cleaned:
    if isinstance(batch, sources.LineBlock):
        kept, dropped = clean_lines(batch.text(), options)
    else:
        kept, dropped = clean_batch(batch, options)
    data = "".join(kept).encode("utf-8")
    char_lengths = np.fromiter(map(len, kept), np.uint32, len(kept))
    hashes = np.fromiter(map(hash, kept), np.int64, len(kept)) if options.dedupe else np.zeros(0, np.int64)
    return _Cleaned(len(kept) + sum(dropped.values()), dropped, data, char_lengths, hashes)


def _first_sightings(keys: np.ndarray, seen: set[int]) -> np.ndarray:
    """True for each key met for the first time (in this batch and in `seen`), which then learns them."""
    distinct, first = np.unique(keys, return_index=True)
    unseen = set(distinct.tolist()) - seen
    seen |= unseen
    fresh = np.zeros(len(keys), bool)
    fresh[first[np.isin(distinct, np.fromiter(unseen, np.int64, len(unseen)))]] = True
    return fresh


def _select(data: bytes, char_lengths: np.ndarray, mask: np.ndarray) -> bytes:
    """The UTF-8 of the tweets `mask` picks out of tweets stored back to back (each at least one character)."""
    raw = np.frombuffer(data, np.uint8)
    char_starts = np.flatnonzero((raw & 0xC0) != 0x80)  # bytes that begin a character
    byte_starts = char_starts[np.cumsum(char_lengths, dtype=np.int64) - char_lengths]
    return raw[np.repeat(mask, np.diff(byte_starts, append=len(raw)))].tobytes()


class _Cleaners:
    """Clean batches on worker processes, results in input order, a bounded number in flight.

    Cleaning is most of `bot prepare`'s work; reading, de-duplication and spooling stay here.
    Workers share one string-hash seed (PYTHONHASHSEED) so their hashes of equal tweets agree.
    """

    def __init__(self, options: CleanOptions, processes: int):
        self.clean = functools.partial(_clean, options=options)
        self.processes = processes
        self.pool: concurrent.futures.ProcessPoolExecutor | None = None
        self.saved_seed: str | None = None

    def __enter__(self) -> _Cleaners:
        if self.processes > 1:
            self.saved_seed = os.environ.get("PYTHONHASHSEED")
            os.environ["PYTHONHASHSEED"] = str(random.randrange(1, 2**32))  # workers start with it, lazily
            context = multiprocessing.get_context("spawn")  # no fork of a process with threads (progress bar)
            self.pool = concurrent.futures.ProcessPoolExecutor(
                self.processes, mp_context=context, initializer=_die_with_parent, initargs=(os.getpid(),)
            )
        return self

    def __exit__(self, *exc_info) -> None:
        if self.pool:
            self.pool.shutdown(cancel_futures=True)
            if self.saved_seed is None:
                os.environ.pop("PYTHONHASHSEED", None)
            else:
                os.environ["PYTHONHASHSEED"] = self.saved_seed

    def map(self, batches: Iterator[sources.Batch]) -> Iterator[_Cleaned]:
        if self.pool is None:
            yield from map(self.clean, batches)
            return
        pending: deque[concurrent.futures.Future] = deque()
        for batch in batches:
            pending.append(self.pool.submit(self.clean, batch))
            if len(pending) >= 2 * self.processes:
                yield _result(pending.popleft())
        while pending:
            yield _result(pending.popleft())


def _die_with_parent(parent: int) -> None:
    """Worker start-up: end this worker when the prepare that started it is gone, even after a SIGKILL
    (no cleanup runs then, and the workers and multiprocessing's resource tracker ran on forever)."""
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="watch-parent").start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _result(future: concurrent.futures.Future) -> _Cleaned:
    try:
        return future.result()
    except concurrent.futures.process.BrokenProcessPool as error:
        raise BotError(f"a cleaning worker process died ({error}); out of memory?") from error


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


def _chunks(spool: Path, blocks: list[tuple[int, int]], lengths: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The kept tweets read back in ~8 MB chunks: their code points, and each tweet's length in characters."""
    with open(spool, "rb") as stream:
        first = 0
        for group in _groups(blocks):
            count = sum(tweets for _, tweets in group)
            data = stream.read(sum(size for size, _ in group))
            yield code_points(data.decode("utf-8")), lengths[first : first + count]
            first += count


def _groups(blocks: list[tuple[int, int]]) -> Iterator[list[tuple[int, int]]]:
    group: list[tuple[int, int]] = []
    size = 0
    for block in blocks:
        group.append(block)
        size += block[0]
        if size >= _CHUNK_BYTES:
            yield group
            group, size = [], 0
    if group:
        yield group


def _encode(
    chunks: Iterator[tuple[np.ndarray, np.ndarray]],
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
        for points, char_lengths in chunks:
            ids = vocab.lookup[points]
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
            summary.ids[name] = int(streams[name].shape[0])


def _dropped_text(summary: PrepareSummary) -> str:
    return ", ".join(f"{count} {reason}" for reason, count in summary.dropped.items()) or "nothing read"
