"""`bot serve`: the export folder over HTTP on 127.0.0.1, since browsers do not fetch model.json from file://."""

from __future__ import annotations

import functools
import http.server
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from .errors import BotError


class _PageHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with the right wasm type, cross-origin isolation (threaded wasm), no request log."""

    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".json": "application/json",
    }

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


class _Server(http.server.ThreadingHTTPServer):
    """A browser that stops reading mid-file (a reload, a closed tab) is no error worth a traceback."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def serve(folder: Path, port: int = 8000, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve an export folder on 127.0.0.1 (browsers do not fetch model.json from file://) until Ctrl-C."""
    folder = Path(folder)
    if not 0 <= port <= 65535:
        raise BotError(f"--port must be between 0 and 65535 (got {port})")
    for piece in ("model.json", "index.html"):
        if not (folder / piece).is_file():
            raise BotError(f"{folder}: not a web export, {piece} is missing (make one with `bot export`)")
    handler = functools.partial(_PageHandler, directory=str(folder))
    try:
        server = _Server(("127.0.0.1", port), handler)
    except OSError as error:
        raise BotError(f"cannot listen on 127.0.0.1:{port} ({error.strerror}); try another --port") from error
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C stops the server even when started from a shell that ignores SIGINT (a background
        # job `bot serve … &` of a script inherits SIG_IGN, and the server then never stopped).
        signal.signal(signal.SIGINT, signal.default_int_handler)
    with server:
        if on_ready:
            on_ready(f"http://127.0.0.1:{server.server_address[1]}/")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
