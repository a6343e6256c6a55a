"""Tweets in JSON, one value at a time with bounded memory: JSONL, concatenated values, a top-level
array, an X API v2 page (`{"data": [...]}`), v1.1 objects, plain strings, and X archive files
(`window.YTD.tweets.part0 = [...]`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TextIO

from twitterbot.errors import BotError

MAX_RECORD_CHARS = 1 << 20  # a tweet is at most 25k characters; anything near this is not a tweet
_CHUNK_CHARS = 1 << 20
_WHITESPACE = re.compile(r"\s*")


class _JsonValues:
    """Top-level JSON values one at a time: JSONL, concatenated values, or a top-level array's elements."""

    def __init__(self, stream: TextIO, name: str):
        self.stream, self.name = stream, name
        self.buffer, self.pos, self.line, self.eof = "", 0, 1, False
        self.decoder = json.JSONDecoder()

    def _fill(self) -> bool:
        self.buffer = self.buffer[self.pos :]
        self.pos = 0
        chunk = self.stream.read(_CHUNK_CHARS)
        if not chunk:
            self.eof = True
            return False
        self.buffer += chunk
        return True

    def _advance(self, end: int) -> None:
        self.line += self.buffer.count("\n", self.pos, end)
        self.pos = end

    def _peek(self) -> str:
        """The next non-whitespace character, or '' at the end of the file."""
        while True:
            self._advance(_WHITESPACE.match(self.buffer, self.pos).end())
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self._fill():
                return ""

    def _error(self, what: str) -> BotError:
        return BotError(f"{self.name}:{self.line}: malformed JSON ({what})")

    def _decode(self) -> object:
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as error:
                if self.eof or len(self.buffer) - self.pos > MAX_RECORD_CHARS:
                    self._advance(min(error.pos, len(self.buffer)))
                    raise self._error(error.msg) from error
                self._fill()
                continue
            except RecursionError as error:
                raise self._error("nested too deeply") from error
            except ValueError as error:  # e.g. an integer of thousands of digits
                raise self._error(str(error).split(":")[0]) from error
            if end == len(self.buffer) and not self.eof and self._fill():
                continue  # a number or literal may go on in the next chunk
            self._advance(end)
            return value

    def skip_archive_prefix(self) -> None:
        """Skip `window.YTD.tweets.part0 =` so the rest reads as plain JSON."""
        self._peek()
        match = re.match(r"window\.YTD\.[\w.]+\s*=", self.buffer[self.pos :])
        if not match:
            raise BotError(f"{self.name}:1: expected an X archive file starting 'window.YTD.<name>.part0 ='")
        self._advance(self.pos + match.end())

    def __iter__(self) -> Iterator[tuple[object, int]]:
        while char := self._peek():
            if char != "[":
                yield self.line, self._decode()
                continue
            self._advance(self.pos + 1)
            if self._peek() == "]":
                self._advance(self.pos + 1)
                continue
            while True:
                if not self._peek():
                    raise self._error("the file ends inside an array")
                yield self.line, self._decode()
                char = self._peek()
                if char == "]":
                    self._advance(self.pos + 1)
                    break
                if char != ",":
                    raise self._error(
                        "the file ends inside an array" if not char else f"expected ',' or ']', found {char!r}"
                    )
                self._advance(self.pos + 1)


def _tweet_text(value: object) -> str | None:
    """The text of one tweet in any of the shapes the X API and archive use, or None."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return None
    tweet = value.get("tweet", value)  # the archive wraps each tweet in {"tweet": {...}}
    if not isinstance(tweet, dict):
        return None
    for outer, inner in (("note_tweet", "text"), ("extended_tweet", "full_text")):
        nested = tweet.get(outer)
        if isinstance(nested, dict) and isinstance(nested.get(inner), str):
            return nested[inner]
    for key in ("full_text", "text"):
        if isinstance(tweet.get(key), str):
            return tweet[key]
    return None


def read_json(stream: TextIO, name: str, archive: bool = False) -> Iterator[str]:
    with stream:
        values = _JsonValues(stream, name)
        if archive:
            values.skip_archive_prefix()
        number = 0
        for line, value in values:
            # An API v2 page holds its tweets under "data"; a JSONL line may itself be an array.
            if isinstance(value, dict) and isinstance(value.get("data"), list):
                items = value["data"]
            elif isinstance(value, list):
                items = value
            else:
                items = [value]
            for item in items:
                number += 1
                text = _tweet_text(item)
                if text is None:
                    raise BotError(
                        f"{name}:{line} (record {number}): expected a tweet: a string or an object with "
                        "'full_text' or 'text'"
                    )
                yield text


def read_archive(stream: TextIO, name: str) -> Iterator[str]:
    return read_json(stream, name, archive=True)
