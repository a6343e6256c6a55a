"""One reader per input format, each streaming (text, origin) records with bounded memory.

Formats: X's "Download your data" archive (`tweets.js`, or the `.zip`), CSV/TSV, JSON and JSONL
(API v2 pages, v1.1 objects, plain string arrays, concatenated values), and plain text.
"""

from __future__ import annotations

import codecs
import csv
import functools
import glob
import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from twitterbot.corpus.jsontweets import MAX_RECORD_CHARS, read_archive, read_json
from twitterbot.errors import BotError

EXTENSIONS = {
    ".js": "archive",
    ".zip": "zip",
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".txt": "text",
}
TEXT_COLUMNS = ("text", "full_text", "tweet", "content")
_CHUNK_BYTES = 4 << 20
MAX_UNZIPPED_BYTES = 8 << 30  # per zip member; X archives' tweets.js parts are far smaller
MAX_ZIP_RATIO = 100  # tweets.js compresses ~10:1; beyond 100:1 (and 64 MB) it is not tweets
MAX_LINE_BYTES = _CHUNK_BYTES  # a line reaching past a text block's end may run on this far, not further
_BATCH = 4096  # tweets per batch handed to cleaning
_ARCHIVE_MEMBER = re.compile(r"(^|/)tweets(-part\d+)?\.js$")

ByteCounter = Callable[[int], None]


@dataclass(frozen=True)
class LineBlock:
    """Whole lines of a text file, by byte range: read and decoded where the batch is cleaned (maybe a
    worker process), so the reading process only finds where the blocks start."""

    path: Path
    start: int
    size: int

    def text(self) -> str:
        """The lines joined by "\\n" (no final one); a bad byte is named by its line number.

        Line breaks are "\\n", "\\r\\n" or a lone "\\r" (old Mac files), as Python's universal newlines
        and the CSV reader take them."""
        with open(self.path, "rb") as stream:
            stream.seek(self.start)
            data = stream.read(self.size)
        if self.start == 0:
            data = data.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark
        data = data.removesuffix(b"\n").removesuffix(b"\r")  # the last line's break
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            before = data[: error.start]
            line = (
                _lines_before(self.path, self.start) + before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n")
            )
            raise BotError(f"{self.path}:{line + 1}: not UTF-8 text ({error.reason})") from error
        return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text

    def texts(self) -> list[str]:
        return self.text().split("\n")


Batch = list[str] | LineBlock  # tweet texts, or a text file's lines still to be decoded


def texts_of(batch: Batch) -> list[str]:
    return batch.texts() if isinstance(batch, LineBlock) else batch


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files named, matched by a glob, or found under a folder, in a stable order.

    A name that exists is that file or folder, even with glob characters in it ("tweets [2023].txt");
    only a name that does not exist is a pattern. In a folder, files of known extensions are read,
    except that of `.js` files only an X archive's tweets.js parts are: an unzipped archive folder
    holds other .js (account.js, the viewer's scripts) that are not tweets.
    """
    paths: list[Path] = []
    for item in inputs:
        if Path(item).is_dir():
            found = sorted(p for p in Path(item).rglob("*") if p.is_file() and _tweet_file(p))
            if not found:
                raise BotError(f"{item}: folder has no {'/'.join(sorted(EXTENSIONS))} files")
            paths.extend(found)
        elif Path(item).exists():
            paths.append(Path(item))
        elif any(ch in item for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True) if Path(m).is_file())
            if not matches:
                raise BotError(f"{item}: no file matches this pattern")
            paths.extend(matches)
        else:
            raise BotError(f"{item}: no such file or folder")
    return list(dict.fromkeys(paths))


def _tweet_file(path: Path) -> bool:
    """Whether a file found in a folder is read: a known extension, not hidden, a .js only if tweets.js."""
    suffix = path.suffix.lower()
    if path.name.startswith(".") or suffix not in EXTENSIONS:
        return False
    return suffix != ".js" or bool(_ARCHIVE_MEMBER.search(path.name))


def detect_format(path: Path) -> str:
    """The reader for a file: by extension, else by its first bytes."""
    by_extension = EXTENSIONS.get(path.suffix.lower())
    if by_extension:
        return by_extension
    with open(path, "rb") as stream:
        head = stream.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"window.YTD"):
        return "archive"
    if head[:1] in (b"[", b"{"):
        return "json"
    return "text"


def read_batches(path: Path, on_bytes: ByteCounter | None = None) -> Iterator[Batch]:
    """Stream a file's tweet texts in batches; malformed input becomes a one-line BotError naming file and place.

    Batches, not single records, keep Python's per-tweet work out of the reading loop; `texts_of` opens one.
    """
    fmt = detect_format(path)
    try:
        if fmt == "zip":
            batches = _read_zip(path, on_bytes)
        elif fmt == "text":
            batches = _read_text(path, on_bytes)
        else:
            stream = _open_text(open(path, "rb"), on_bytes, newline="" if fmt == "csv" else None)
            batches = _batched(_READERS[fmt](stream, str(path)))
        yield from batches
    except UnicodeDecodeError as error:
        raise _decode_error(str(path), lambda: open(path, "rb")) from error
    except OSError as error:
        raise BotError(f"{path}: cannot read ({error.strerror or error})") from error


def _decode_error(name: str, open_binary: Callable[[], BinaryIO]) -> BotError:
    """Where a file first stops being UTF-8, by line: the text reader's error knows only its own buffer."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open_binary() as stream:
        while block := stream.read(_CHUNK_BYTES):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as error:
                line += block[: max(error.start, 0)].count(b"\n")
                return BotError(f"{name}:{line}: not UTF-8 text ({error.reason})")
            line += block.count(b"\n")
    return BotError(f"{name}:{line}: not UTF-8 text (the file ends inside a character)")


def read_texts(path: Path) -> list[str]:
    """Every tweet text of one file (small files and tests; `bot prepare` streams batches)."""
    return [text for batch in read_batches(path) for text in texts_of(batch)]


def _batched(texts: Iterator[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class _CountingReader(io.RawIOBase):
    """A raw byte stream that reports how many bytes were read, for progress bars."""

    def __init__(self, raw: io.RawIOBase | io.BufferedIOBase, on_bytes: ByteCounter | None):
        self._raw, self._on_bytes = raw, on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        if self._on_bytes and data:
            self._on_bytes(len(data))
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


def _open_text(raw, on_bytes: ByteCounter | None, newline: str | None) -> TextIO:
    reader = io.BufferedReader(_CountingReader(raw, on_bytes), buffer_size=1 << 16)
    return io.TextIOWrapper(reader, encoding="utf-8-sig", errors="strict", newline=newline)


def _read_text(path: Path, on_bytes: ByteCounter | None) -> Iterator[LineBlock]:
    """~4 MB blocks of whole lines; only the bytes around each block's end are read here."""
    size = path.stat().st_size
    with open(path, "rb") as stream:
        start = 0
        while start < size:
            end = min(start + _CHUNK_BYTES, size)
            if end < size:
                end = _next_line_start(stream, end - 1, size, path)
            yield LineBlock(path, start, end - start)
            if on_bytes:
                on_bytes(end - start)
            start = end


def _next_line_start(stream: BinaryIO, offset: int, size: int, path: Path) -> int:
    """Where the line holding byte `offset` ends (just past its line break), read in small steps."""
    stream.seek(offset)
    scanned = 0
    while window := stream.read(1 << 16):
        cut = window.find(b"\n")
        if scanned + (len(window) if cut < 0 else cut) > MAX_LINE_BYTES:
            lone_cr = b"\r" in window  # lone "\r" breaks are read, but blocks are cut at "\n" only
            raise _long_line(path, _lines_before(path, offset) + 1, lone_cr)
        if cut >= 0:
            return offset + scanned + cut + 1
        scanned += len(window)
    return size


def _lines_before(path: Path, offset: int) -> int:
    """Line breaks before a byte offset: line numbers for error messages, counted only when one is needed."""
    count = 0
    with open(path, "rb") as stream:
        while offset > 0 and (block := stream.read(min(offset, _CHUNK_BYTES))):
            count += block.count(b"\n")
            offset -= len(block)
    return count


def _long_line(name: Path, line: int, lone_cr: bool) -> BotError:
    hint = " (its line breaks look like a lone \\r: save it with \\n line breaks)" if lone_cr else ""
    return BotError(f"{name}:{line}: line longer than {MAX_LINE_BYTES:,} bytes, not a tweet{hint}")


def _bounded_lines(stream: TextIO, name: str) -> Iterator[str]:
    """A CSV file's lines, none longer than MAX_RECORD_CHARS: the CSV reader bounds a field's size but
    not a row's field count (a line of 150 MB of commas took 1.5 GB as a list of empty fields)."""
    for number, line in enumerate(iter(functools.partial(stream.readline, MAX_RECORD_CHARS + 1), ""), 1):
        if len(line) > MAX_RECORD_CHARS:
            raise BotError(f"{name}:{number}: line longer than {MAX_RECORD_CHARS:,} characters, not a row of tweets")
        yield line


def _read_csv(stream: TextIO, name: str) -> Iterator[str]:
    delimiter = "\t" if name.lower().endswith(".tsv") else ","
    with stream:
        reader = csv.reader(_bounded_lines(stream, name), delimiter=delimiter, strict=True)
        line = 1
        try:
            header = next((row for row in reader if row), None)  # blank lines before it are skipped
            if header is None:
                return
            names = [column.strip().lower() for column in header]
            column = next((names.index(c) for c in TEXT_COLUMNS if c in names), None)
            if column is None:  # no header we know: the first column holds tweets, from row one
                column = 0
                yield header[0]
            line = reader.line_num + 1
            for row in reader:
                if row:
                    if len(row) <= column:
                        raise BotError(
                            f"{name}:{line}: expected a value in column {column + 1} "
                            f"({header[column]!r}), the row has {len(row)}"
                        )
                    yield row[column]
                line = reader.line_num + 1
        except csv.Error as error:
            raise BotError(f"{name}:{line}: malformed CSV ({error})") from error


def _read_zip(path: Path, on_bytes: ByteCounter | None) -> Iterator[list[str]]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, NotImplementedError, ValueError, EOFError) as error:
        raise BotError(f"{path}: not a readable zip file ({error})") from error
    with archive:
        members = [info for info in archive.infolist() if _ARCHIVE_MEMBER.search(info.filename)]
        if not members:
            raise BotError(f"{path}: no data/tweets.js (or tweets-partN.js) inside this zip")
        for info in members:
            name = f"{path}!{info.filename}"
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > MAX_UNZIPPED_BYTES or (info.file_size > 64 << 20 and ratio > MAX_ZIP_RATIO):
                raise BotError(
                    f"{name}: refusing to unpack {info.file_size:,} bytes from {info.compress_size:,} "
                    "(a zip bomb, or far larger than any tweet archive)"
                )
            try:
                yield from _batched(read_archive(_open_text(archive.open(info), on_bytes, newline=None), name))
            except UnicodeDecodeError as error:
                raise _decode_error(name, functools.partial(archive.open, info)) from error
            except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as error:
                raise BotError(f"{name}: damaged or unreadable zip member ({error})") from error


_READERS = {"archive": read_archive, "csv": _read_csv, "json": read_json}
