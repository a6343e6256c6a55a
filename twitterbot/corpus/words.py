"""The words a corpus holds, so a written tweet can be checked to read as words (filters.Filters' "non-word").

A word is a run of 3+ letters (Python's `[^\\W\\d_]`: letters and the numerals that are not digits, as
the page's `[\\p{L}\\p{Nl}\\p{No}]`), lower-cased; links, @handles and #tags are not words to judge. `bot
prepare` keeps the words of every tweet it kept (words.txt.gz in the data folder), training copies them
into the checkpoint, and a fine-tune knows its base's words and the account's. The same definition
counts non-words in bench/quality.py and bench/filters.py.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from twitterbot import fsutil
from twitterbot.errors import BotError

FILE = "words.txt.gz"  # one word a line, sorted, gzip
MAX_BYTES = 64 << 20  # unpacked; the base corpus's 104,774 words are 1 MB
WORD = re.compile(r"[^\W\d_]{3,}")
NOT_WORDS = re.compile(r"(?:https?://|www\.|[@#])\S*")  # links, @handles and #tags


def words_in(text: str) -> list[str]:
    """The words of a text as the filter judges them, in order (lower case)."""
    return WORD.findall(NOT_WORDS.sub(" ", text).lower())


@dataclass(frozen=True)
class WordSet:
    words: frozenset[str]

    @classmethod
    def of(cls, texts: Iterable[str]) -> WordSet:
        found: set[str] = set()
        for text in texts:
            found.update(words_in(text))
        return cls(frozenset(found))

    def __or__(self, other: WordSet) -> WordSet:
        return WordSet(self.words | other.words)

    def __len__(self) -> int:
        return len(self.words)

    def to_bytes(self) -> bytes:
        """Sorted, one a line, gzip without a timestamp: the same words give the same bytes."""
        return gzip.compress("\n".join(sorted(self.words)).encode("utf-8"), compresslevel=9, mtime=0)

    def save(self, path: Path) -> None:
        with fsutil.atomic_path(path) as tmp:
            tmp.write_bytes(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes, what: str) -> WordSet:
        """The words of a word list's bytes, unpacked to at most MAX_BYTES (a gzip bomb stops there)."""
        try:
            unpacker = zlib.decompressobj(wbits=31)  # gzip
            text = unpacker.decompress(data, MAX_BYTES)
            if unpacker.unconsumed_tail or not unpacker.eof:
                raise ValueError(f"more than {MAX_BYTES:,} bytes unpacked, or cut short")
            text = text.decode("utf-8")
        except (zlib.error, ValueError) as error:  # UnicodeDecodeError is a ValueError
            raise BotError(f"{what}: not a gzip word list ({str(error)[:120]})") from None
        words = frozenset(text.split("\n")) - {""}
        if any(WORD.fullmatch(word) is None or word != word.lower() for word in words):
            raise BotError(f"{what}: not a twitterbot word list (a line that is not one lower-case word)")
        return cls(words)

    @classmethod
    def load(cls, path: Path) -> WordSet:
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise BotError(f"{path}: cannot read the word list ({error})") from error
        return cls.from_bytes(data, str(path))
