"""Characters ↔ ids: Unicode code points, most frequent first, capped by coverage, plus <eot> and <unk>."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from functools import cached_property
from pathlib import Path

import numpy as np

from twitterbot import fsutil
from twitterbot.config import BUNDLED
from twitterbot.errors import BotError

EOT, UNK = 0, 1  # end-of-tweet (the model learns where tweets end) and every rare character
# Placeholders: one private-use character stands for every link and every @handle, so the model
# learns where they go and never writes a real one. Nobody sees them: `render` replaces them.
URL_TOKEN = "\ue000"
MENTION_TOKEN = "\ue002"
PLACEHOLDERS = {"link": URL_TOKEN, "mention": MENTION_TOKEN}
SPECIALS = ("<eot>", "<unk>")
CODE_POINTS = 0x110000
MAX_SIZE = np.iinfo(np.uint16).max + 1  # ids are stored as uint16


def render(text: str, link: str = "", mention: str = "") -> str:
    """Text as it may be posted: each link placeholder becomes `link` and each mention `mention`; an
    empty replacement drops the placeholder with the space before it ("thanks @x!" → "thanks!"), and a
    run of them that opens a line with the colon or comma and space after it ("@a @b: hi" → "hi")."""
    for token, replacement in ((URL_TOKEN, link), (MENTION_TOKEN, mention)):
        if token not in text:
            continue
        if replacement:
            text = text.replace(token, replacement)
        else:
            text = re.sub(rf"(?m)^(?:[ \t]*{token}[:,]?)+[ \t]*", "", text)
            text = re.sub(rf"[ \t]*{token}", "", text)
    return text.strip()


def code_points(text: str) -> np.ndarray:
    """The text as an array of Unicode code points (one per Python character)."""
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


FILE = "vocab.json"  # the vocabulary's file in a data folder, a checkpoint and an export


class Vocab:
    """The id of every character the model knows; ids 0 and 1 are <eot> and <unk>."""

    def __init__(self, chars: list[str], counts: list[int], coverage: float):
        """ValueError for characters that are not one code point each, halves of surrogate pairs or repeats
        (a file's vocabulary: its reader names the file)."""
        if len(chars) != len(counts) or len(chars) > MAX_SIZE - len(SPECIALS):
            raise BotError(f"vocabulary of {len(chars)} characters does not fit uint16 ids")
        if not all(isinstance(c, str) and len(c) == 1 and not 0xD800 <= ord(c) <= 0xDFFF for c in chars):
            raise ValueError("every entry must be one character, and not half of a surrogate pair")
        repeated = sorted(c for c, n in Counter(chars).items() if n > 1)
        if repeated:
            raise ValueError(f"characters listed twice: {''.join(repeated).encode('unicode_escape').decode()[:80]}")
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts):
            raise ValueError("counts must be whole numbers of 0 or more")
        self.chars, self.counts, self.coverage = list(chars), list(counts), coverage

    @classmethod
    def from_counts(cls, counts: np.ndarray, coverage: float, max_size: int | None = None) -> Vocab:
        """Keep the most frequent characters until they cover `coverage` (in (0, 1]) of all characters seen."""
        total = int(counts.sum())
        if total == 0:
            raise BotError("no characters to build a vocabulary from")
        seen = np.flatnonzero(counts)
        order = seen[np.lexsort((seen, -counts[seen]))]  # by count, ties by code point
        cumulative = np.cumsum(counts[order])
        keep = int(np.searchsorted(cumulative, coverage * total - 1e-9 * total) + 1)
        limit = min(max_size or MAX_SIZE, MAX_SIZE) - len(SPECIALS)
        keep = min(keep, len(order), limit)
        if keep < 1:
            raise BotError(f"--max-vocab must leave room for characters (got {max_size})")
        kept = order[:keep]
        return cls([chr(cp) for cp in kept], [int(c) for c in counts[kept]], float(cumulative[keep - 1] / total))

    @property
    def size(self) -> int:
        return len(SPECIALS) + len(self.chars)

    @cached_property
    def lookup(self) -> np.ndarray:
        """Code point → id table (2 MB), so encoding is one vectorised gather."""
        table = np.full(CODE_POINTS, UNK, dtype=np.uint16)
        table[code_points("".join(self.chars))] = np.arange(len(SPECIALS), self.size, dtype=np.uint16)
        return table

    @cached_property
    def hash(self) -> str:
        """Identifies the id assignment: data and checkpoint must agree on it."""
        return hashlib.sha256(json.dumps(self.chars, ensure_ascii=True).encode()).hexdigest()[:16]

    def encode(self, text: str) -> np.ndarray:
        return self.lookup[code_points(text)]

    def decode(self, ids) -> str:
        """Characters for ids; <eot> ends nothing here (callers split on it), <unk> shows as U+FFFD."""
        ids = np.asarray(ids, dtype=np.intp)
        return self.decode_stream(ids[ids != EOT])

    def decode_stream(self, ids: np.ndarray, eot: str = "\x00") -> str:
        """A whole id stream as text at NumPy speed: <eot> as `eot` (one character; cleaning leaves no
        control character in a tweet, so U+0000 splits it back into tweets), <unk> as U+FFFD."""
        table = np.array([ord(eot), 0xFFFD, *map(ord, self.chars)], dtype="<u4")
        return table[np.asarray(ids)].tobytes().decode("utf-32-le")

    def unknown(self, text: str) -> list[str]:
        """Characters of `text` the vocabulary does not have."""
        known = set(self.chars)
        return sorted({ch for ch in text if ch not in known})

    def to_dict(self) -> dict:
        return {
            "specials": {"eot": EOT, "unk": UNK},
            "chars": self.chars,
            "counts": self.counts,
            "coverage": self.coverage,
            "size": self.size,
            "hash": self.hash,
        }

    def save(self, path: Path) -> None:
        fsutil.write_json(path, self.to_dict())

    @classmethod
    def of(cls, path: Path) -> Vocab:
        """The vocabulary of a data folder, checkpoint or export (or a vocab.json file itself); `bundled`,
        where no such file or folder is, names the bundled base model."""
        path = Path(path)
        if path == Path("bundled") and not path.exists():
            path = BUNDLED
        return cls.load(path / FILE if path.is_dir() else path)

    @classmethod
    def load(cls, path: Path) -> Vocab:
        values = fsutil.read_json(path)
        try:
            vocab = cls(values["chars"], values["counts"], float(values["coverage"]))
            if values["specials"] != {"eot": EOT, "unk": UNK}:
                raise ValueError("unexpected special ids")
        except (KeyError, TypeError, ValueError, BotError) as error:
            raise BotError(f"{path}: not a twitterbot vocabulary ({str(error)[:200]})") from None
        return vocab
