"""Is a written tweet new? An index of the training tweets, built once at prepare time.

Two questions, both without scanning the corpus per candidate:
- a verbatim copy: 64-bit hashes of every kept tweet, sorted, looked up by binary search;
- a long shared substring: winnowing (Schleimer et al., 2003, as MOSS does). Every `GRAM`-character
  n-gram is hashed; of each window of `WINDOW` consecutive hashes only the smallest is kept. Two texts
  sharing a substring of at least GRAM + WINDOW - 1 characters then share a kept hash for each window
  inside it, so a candidate's shared runs are found from its own windows' minima alone. The index
  holds about 2/(WINDOW+1) of the corpus's positions: 30 M characters take ~37 MB.
A compact index (the bundled model's) keeps only what a model of a large corpus can have learned by
heart or may write by chance: the n-grams chosen at two or more places, and the tweets of at most
SHORT_TWEET characters; on the base corpus it took the same decisions as the full one (docs/filters.md).
Placeholders (links, mentions) take part like any character: candidates are checked before rendering.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twitterbot.errors import BotError
from twitterbot.fsutil import read_npz

# Characters per hashed n-gram. At 10, the everyday phrases of different tweets ("I don't know what",
# "in the morning") abutted into "runs" no one tweet holds: 186 of 251 "copied runs" at temp 0.5–1.0.
GRAM = 20
WINDOW = 6  # n-grams per winnowing window: shared runs of GRAM + WINDOW - 1 = 25 characters are always found
SHORTEST = GRAM + WINDOW - 1
SHORT_TWEET = 40  # a compact index keeps the whole-tweet hashes of tweets this short only
LEGACY = (10, 6)  # GRAM and WINDOW of an index written before indexes said theirs
FILE = "novelty.npz"  # the index's file in a data folder and a checkpoint
HASH_BASE = 1_000_003  # of the polynomial hashes of tweets and n-grams (the page hashes with it too)
_BASE = np.uint64(HASH_BASE)
_SEPARATOR = 0  # between tweets, so no n-gram of the corpus spans two of them (no candidate holds U+0000)


@dataclass(frozen=True)
class NoveltyIndex:
    tweets: np.ndarray  # sorted uint64 hashes of whole tweets
    minima: np.ndarray  # sorted unique uint32 winnowed n-gram hashes
    gram: int = GRAM
    window: int = WINDOW
    compact: bool = False

    @classmethod
    def build(cls, chunks: Iterable[tuple[np.ndarray, np.ndarray]], compact: bool = False) -> NoveltyIndex:
        """From (code points of tweets back to back, each tweet's length) chunks, as prepare reads its spool."""
        tweets, minima = [], []
        for points, lengths in chunks:
            starts = np.cumsum(lengths) - lengths
            hashes = _tweet_hashes(points, starts, lengths)
            tweets.append(hashes[lengths <= SHORT_TWEET] if compact else hashes)
            separated = np.insert(points.astype(np.uint64), starts[1:], _SEPARATOR)  # one separator between tweets
            grams = _gram_hashes(separated, GRAM)
            chosen = grams[_chosen(grams, WINDOW)]
            minima.append(chosen if compact else np.unique(chosen))
        empty_u64, empty_u32 = np.zeros(0, np.uint64), np.zeros(0, np.uint32)
        kept, counts = np.unique(np.concatenate(minima or [empty_u32]), return_counts=True)
        return cls(
            np.unique(np.concatenate(tweets or [empty_u64])), kept[counts >= 2] if compact else kept, compact=compact
        )

    def save(self, path: Path) -> None:
        with open(path, "wb") as stream:
            np.savez(
                stream, tweets=self.tweets, minima=self.minima, gram=self.gram, window=self.window, compact=self.compact
            )

    @classmethod
    def load(cls, path: Path) -> NoveltyIndex:
        try:
            saved = read_npz(path)
            gram, window = (
                int(saved[key]) if key in saved else old for key, old in zip(("gram", "window"), LEGACY, strict=True)
            )
            compact = bool(saved["compact"]) if "compact" in saved else False
            index = cls(saved["tweets"], saved["minima"], gram, window, compact)
        except (OSError, ValueError, KeyError, EOFError, TypeError, zipfile.BadZipFile) as error:
            raise BotError(f"{path}: damaged novelty index ({str(error)[:120]}); prepare the data again") from None
        if (
            index.tweets.dtype != np.uint64
            or index.minima.dtype != np.uint32
            or not (1 <= gram <= 64 and 1 <= window <= 64)
        ):
            raise BotError(f"{path}: not a twitterbot novelty index")
        return index

    def is_copy(self, text: str) -> bool:
        """Whether `text` (placeholders in) is one of the training tweets, verbatim."""
        points = _code_points(text)
        digest = _tweet_hashes(points, np.zeros(1, np.int64), np.array([len(points)]))[0]
        return _contains(self.tweets, np.array([digest]))[0]

    def longest_shared(self, text: str) -> int:
        """About the longest run of `text` found in the training tweets, in characters (0: none found).

        The indexed n-grams `text` holds, where consecutive ones lie at most WINDOW apart, are one run,
        measured from the first one's start to the last one's end: at most 2 × (WINDOW - 1) characters
        short of the true run, never counting one lone shared n-gram. Pieces of different tweets that
        abut can make a run longer than any one shared substring (2 of 2,128 candidates at GRAM 20)."""
        points = _code_points(text).astype(np.uint64)
        if len(points) < self.gram + self.window - 1:
            return 0
        grams = _gram_hashes(points, self.gram)
        chosen = _chosen(grams, self.window)
        hits = chosen[_contains(self.minima, grams[chosen])]
        if len(hits) < 2:
            return 0
        breaks = np.flatnonzero(np.diff(hits) > self.window) + 1
        runs = [run for run in np.split(hits, breaks) if len(run) >= 2]
        return max((int(run[-1] - run[0]) + self.gram for run in runs), default=0)


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), np.uint32)


def _gram_hashes(points: np.ndarray, gram: int) -> np.ndarray:
    """A polynomial hash of each `gram`-character window (mod 2^64), its high 32 bits kept."""
    if len(points) < gram:
        return np.zeros(0, np.uint32)
    with np.errstate(over="ignore"):
        hashes = np.zeros(len(points) - gram + 1, np.uint64)
        for offset in range(gram):
            hashes = hashes * _BASE + points[offset : len(points) - gram + 1 + offset] + np.uint64(1)
        hashes ^= hashes >> np.uint64(29)
        hashes *= np.uint64(0xBF58476D1CE4E5B9)  # mix so the high bits depend on every character
    return (hashes >> np.uint64(32)).astype(np.uint32)


def _chosen(hashes: np.ndarray, window: int) -> np.ndarray:
    """Where the smallest hash of each window of `window` consecutive n-grams lies (what the index keeps),
    each place once, in order."""
    if len(hashes) < window:
        return np.zeros(0, np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(hashes, window)
    return np.unique(np.arange(len(windows)) + windows.argmin(axis=1))


def _tweet_hashes(points: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each tweet: a polynomial over its code points, computed for all tweets at once."""
    with np.errstate(over="ignore"):
        values = points.astype(np.uint64) + np.uint64(1)
        position = np.arange(len(points)) - np.repeat(starts, lengths)  # index within its tweet
        powers = _powers(int(lengths.max(initial=0)))
        sums = np.add.reduceat(values * powers[position], starts) if len(points) else np.zeros(len(starts), np.uint64)
        sums = np.where(lengths > 0, sums, np.uint64(0))
        return (sums * np.uint64(0x9E3779B97F4A7C15)) ^ lengths.astype(np.uint64)


def _powers(count: int) -> np.ndarray:
    """BASE**i mod 2**64 for i < count."""
    factors = np.full(max(count, 1), _BASE, np.uint64)
    factors[0] = 1
    with np.errstate(over="ignore"):
        return np.cumprod(factors, dtype=np.uint64)


def _contains(sorted_values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    where = np.searchsorted(sorted_values, queries)
    return (where < len(sorted_values)) & (sorted_values[np.minimum(where, len(sorted_values) - 1)] == queries)
