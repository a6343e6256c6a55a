"""The one exception type the CLI turns into a one-line message and a non-zero exit, and how a failing
command ends: one line for an OSError, SIGTERM as Ctrl-C, no crash on the way out."""

from __future__ import annotations

import os
import re
import sys


class BotError(Exception):
    """A problem the user can fix (bad input, wrong folder, bad flag): shown as one line, no traceback."""


def os_error_line(error: OSError) -> str:
    """One line for an OSError; HDF5's own (a full disk in the middle of a write) spans several."""
    filename = error.filename or next(iter(re.findall(r"filename = '([^']*)'", str(error))), None)
    reason = os.strerror(error.errno) if error.errno else error.strerror or str(error)
    return " ".join(f"{filename + ': ' if filename else ''}{reason}".split())


def terminate(signum, frame) -> None:
    """SIGTERM (`kill`, a service manager) stops the command as Ctrl-C does: temp files are removed, worker
    processes stopped, training says where --restore goes on. Its default ends Python with no cleanup."""
    raise KeyboardInterrupt


def leave(status: int) -> None:
    """Exit after an error. If a failed HDF5 write left a file open (a full disk), HDF5's own exit handler
    crashes the process (rc 139) trying to flush it again: everything is cleaned up by now, so leave at once."""
    h5py = sys.modules.get("h5py")
    if h5py is not None and h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)
