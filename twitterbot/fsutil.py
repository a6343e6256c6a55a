"""Atomic file and folder writes: a crash leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import BotError


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
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
    write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def read_json(path: Path) -> dict:
    """Read a JSON object, turning a missing or corrupt file into a one-line error naming it."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise BotError(f"{path}: missing") from error
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BotError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(value, dict):
        raise BotError(f"{path}: expected a JSON object")
    return value


def refuse_existing(path: Path, force: bool, what: str) -> None:
    """Refuse to overwrite a non-empty folder unless the user said --force."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())) and not force:
        raise BotError(f"{path}: {what} already exists (pass --force to replace it)")


@contextmanager
def staged_dir(path: Path, keep: Path | None = None) -> Iterator[Path]:
    """Yield a fresh temp folder beside `path`; on success it replaces `path` as a whole.

    `keep`: where the replaced folder goes (a fallback), instead of being deleted.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
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


@contextmanager
def lock(path: Path, what: str) -> Iterator[None]:
    """Hold a lock file naming this process; refuse while another live process holds it, take over a stale one."""
    path = Path(path)
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
        os.write(fd, f"{os.getpid()}\n".encode())
        os.close(fd)
        yield
    finally:
        path.unlink(missing_ok=True)


def _lock_owner(path: Path) -> int | None:
    """The PID in a lock file if that process still runs, else None."""
    try:
        pid = int(path.read_text().split()[0])
        os.kill(pid, 0)
    except PermissionError:
        return pid  # alive, another user's
    except (OSError, ValueError, IndexError):
        return None
    return pid
