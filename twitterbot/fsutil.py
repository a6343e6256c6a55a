"""Atomic file and folder writes: a crash leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from twitterbot.errors import BotError

if TYPE_CHECKING:
    import numpy as np


def fsync_path(path: Path) -> None:
    """Flush a file (or folder entry) to disk so a rename after it is durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success it is fsynced and renamed over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o644)  # mkstemp makes files private; ours are ordinary user files
    os.close(fd)
    tmp = Path(tmp_name)
    # Keep the real suffix last: some writers (Keras, matplotlib) choose the format from it.
    tmp_with_suffix = tmp.with_name(tmp.name + "".join(path.suffixes))
    tmp.rename(tmp_with_suffix)
    try:
        yield tmp_with_suffix
        fsync_path(tmp_with_suffix)
        os.replace(tmp_with_suffix, path)
    except BaseException:
        tmp_with_suffix.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, value: object) -> None:
    """Strict JSON: NaN and infinity are refused, as browsers' JSON.parse refuses them."""
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False)
    except ValueError as error:
        raise BotError(f"{path}: cannot write a value that is not a finite number ({error})") from error
    write_text(path, text + "\n")


MAX_JSON_BYTES = 64 << 20  # the settings, vocabularies and states twitterbot writes are a few MB at most


def read_text(path: Path, limit: int, what: str, encoding: str = "utf-8") -> str:
    """A text file of at most `limit` bytes. A special file (/dev/zero, a FIFO), a bigger file or bytes that
    are not `encoding` are a one-line error naming the file and `what` it should be; no content is shown
    (an env file holds secrets)."""
    path = Path(path)
    try:
        if not path.exists():
            raise BotError(f"{path}: missing ({what})")
        if not path.is_file():
            raise BotError(f"{path}: not a regular file ({what})")
        size = path.stat().st_size
        if size > limit:
            raise BotError(f"{path}: {size:,} bytes, more than {what} holds ({limit:,})")
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as error:
        raise BotError(
            f"{path}: not {encoding.removesuffix('-sig').upper()} text at byte {error.start:,} ({what})"
        ) from None
    except OSError as error:
        raise BotError(f"{path}: cannot read {what} ({type(error).__name__}: {error.strerror})") from None


def read_json(path: Path) -> dict:
    """Read a JSON object, turning a missing, oversized, corrupt or hostile file (a special file, nesting
    past Python's stack, a number of thousands of digits) into a one-line error naming it."""
    text = read_text(path, MAX_JSON_BYTES, "a twitterbot JSON file")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise BotError(f"{path}: not valid JSON ({str(error)[:200]})") from None
    if not isinstance(value, dict):
        raise BotError(f"{path}: expected a JSON object")
    return value


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an .npz as np.savez writes it (members stored, not compressed), each member's header
    checked against the bytes it holds before anything is allocated: a few bytes cannot declare terabytes.
    Raises ValueError (or OSError, zipfile.BadZipFile, EOFError) for the caller to name the file."""
    import math
    import zipfile

    import numpy as np

    if not Path(path).is_file():
        raise ValueError("not a regular file")
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy") or info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"{info.filename!r} is not an array np.savez stores")
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                read_header = (
                    np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                )
                shape, fortran_order, dtype = read_header(member)
                declared = math.prod(shape) * dtype.itemsize
                if dtype.hasobject or declared > info.file_size:
                    raise ValueError(f"{info.filename} declares {declared:,} bytes of {dtype} in {info.file_size:,}")
                data = member.read(declared)
                if len(data) < declared:
                    raise ValueError(f"{info.filename} holds {len(data):,} of the {declared:,} bytes it declares")
            array = np.frombuffer(data, dtype).reshape(shape, order="F" if fortran_order else "C")
            arrays[info.filename.removesuffix(".npy")] = array.copy()  # writable, as np.load gives it
    return arrays


def read_npz_list(path: Path) -> list[np.ndarray]:
    """The arrays np.savez(stream, *arrays) wrote, in their order (arr_0, arr_1, ...), checked as read_npz does."""
    saved = read_npz(path)
    try:
        return [saved[f"arr_{index}"] for index in range(len(saved))]
    except KeyError:
        raise ValueError(f"members {sorted(saved)} are not arr_0 ... arr_{len(saved) - 1}") from None


def refuse_existing(
    path: Path,
    force: bool,
    what: str,
    ours: Callable[[Path], bool],
    inputs: Iterable[Path] = (),
    hint: str = "",
) -> None:
    """Check that `path` may become the output folder: new, empty, or (with --force) one of ours to replace.

    `ours`: whether a folder is a `what` that twitterbot wrote, the only kind --force may replace.
    Never the current folder, a folder above it, the home folder, or one that is or holds an input.
    `hint`: said after the refusal of an existing folder, e.g. how to go on from it instead.
    """
    path = Path(path)
    target, cwd = path.resolve(), Path.cwd().resolve()
    if cwd.is_relative_to(target) or target == Path.home().resolve():
        raise BotError(f"{path}: refusing to put the {what} over the current folder, a folder above it or home")
    for source in inputs:
        source = Path(source).resolve()
        if source == target or source.is_relative_to(target):
            raise BotError(f"{path}: this {what} would replace the input {source}; choose another --out")
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return
    if not force:
        raise BotError(f"{path}: {what} already exists{hint} (pass --force to replace it)")
    if not path.is_dir() or path.is_symlink() or not ours(path):
        raise BotError(f"{path}: not one of twitterbot's {what}s; --force replaces only those: choose another --out")


@contextmanager
def staged_dir(path: Path, keep: Path | None = None) -> Iterator[Path]:
    """Yield a fresh temp folder beside `path`; on success it replaces `path` as a whole.

    `keep`: where the replaced folder goes (a fallback), instead of being deleted.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(path.name), suffix=".tmp", dir=path.parent))
    tmp.chmod(0o755)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_dir(tmp, path, keep)


def replace_dir(new: Path, path: Path, keep: Path | None = None) -> None:
    """Swap `new` in for `path`; the old folder is kept aside (at `keep`, if given) until the new one is in place."""
    old = keep or path.with_name(f".{path.name}.old")
    if path.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    os.replace(new, path)
    fsync_path(path.parent)
    if keep is None:
        shutil.rmtree(old, ignore_errors=True)


def lock_path(folder: Path) -> Path:
    """The lock file of a folder, beside it, named after its real path: two spellings of one folder
    (a symlink, `a/../b`) share one lock."""
    real = Path(folder).resolve()
    return real.parent / f".{real.name}.lock"


@contextmanager
def lock(folder: Path, what: str) -> Iterator[None]:
    """Hold a lock file naming this process; refuse while another live process holds it, take over a stale one."""
    path = lock_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            owner = _lock_owner(path)
            if owner is not None:
                raise BotError(f"{path}: {what} is in use by process {owner}; wait for it or stop it") from None
            path.unlink(missing_ok=True)  # stale: its process is gone
    else:
        raise BotError(f"{path}: could not take the lock")
    try:
        os.write(fd, f"{os.getpid()} {process_start(os.getpid()) or ''}\n".encode())
        os.close(fd)
        yield
    finally:
        path.unlink(missing_ok=True)


def _lock_owner(path: Path) -> int | None:
    """The PID in a lock file if that process still runs, else None."""
    try:
        pid, *start = path.read_text().split()
        pid = int(pid)
    except (OSError, ValueError):
        return None
    return pid if running(pid, start[0] if start else None) else None


def process_start(pid: int) -> str | None:
    """When a process started (clock ticks since boot, Linux), so a reused PID is not taken for the
    process that wrote a lock or temp file; None where the system does not say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()[19]  # field 22; the name in (…) may hold spaces


def running(pid: int, start: str | None) -> bool:
    """Whether process `pid` runs and is the one that started at `start` (if known)."""
    try:
        os.kill(pid, 0)
    except PermissionError:
        pass  # alive, another user's
    except (OSError, OverflowError):
        return False
    now = process_start(pid)
    return start is None or now is None or now == start


def temp_prefix(name: str) -> str:
    """The start of a temp file's name beside `name`: hidden, and naming the process that writes it, so a
    later run can tell a stale one (its writer killed) from one in use (see `sweep_stale`)."""
    return f".{name}.{os.getpid()}-{process_start(os.getpid()) or 'x'}."


_TEMP = re.compile(r"^\.(?P<name>.+?)\.(?P<pid>\d+)-(?P<start>\d+|x)\.(.*\.)?tmp")


def sweep_stale(folder: Path, name: str | None = None) -> list[Path]:
    """Remove the temp files and folders in `folder` (of `name` only, if given) whose writer is gone: what a
    killed run left. Returns what was removed."""
    removed = []
    for entry in Path(folder).iterdir() if Path(folder).is_dir() else ():
        match = _TEMP.match(entry.name)
        if not match or (name is not None and match["name"] != name):
            continue
        if running(int(match["pid"]), None if match["start"] == "x" else match["start"]):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def require_free(folder: Path, needed: int, what: str) -> None:
    """Refuse a write that cannot fit, before it starts: HDF5 crashes the process when the disk fills mid-write."""
    folder = Path(folder)
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise BotError(
            f"{folder}: not enough free space to write {what} (needs about {_megabytes(needed)}, "
            f"{_megabytes(free)} free)"
        )


def _megabytes(count: int) -> str:
    return f"{count / 1e6:,.1f} MB"


def shown(path: object) -> str:
    """A path as text that can always be printed and written as UTF-8, even if its bytes are not UTF-8."""
    return os.fsencode(str(path)).decode("utf-8", errors="backslashreplace")
