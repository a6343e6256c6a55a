"""`bot serve`: the export folder over HTTP on 127.0.0.1, since browsers do not fetch model.json from file://.

Only for this machine's browser: regular files inside the folder (no symlink leads out, no listings),
only requests addressed to 127.0.0.1 or localhost (a web page cannot reach the folder through DNS
rebinding), idle connections closed and at most MAX_CONNECTIONS served at once, no version banner.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import signal
import socket
import sys
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from twitterbot.errors import BotError
from twitterbot.web.exportfolder import MODEL, PAGE

PORT = 8000  # on 127.0.0.1; 0: any free port
IDLE_TIMEOUT = 20.0  # seconds a connection may stay silent
REQUEST_SECONDS = 10.0  # for a request line and headers to arrive whole (a slow sender holds a slot no longer)
MAX_CONNECTIONS = 32  # served at once; more wait to be accepted


class _PageHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with the right wasm type, cross-origin isolation (threaded wasm), no request log."""

    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".json": "application/json",
    }
    server: _Server

    def version_string(self) -> str:
        return "twitterbot"

    def send_head(self):
        if self.headers.get("Host", "").lower() not in self.server.hosts:
            self.send_error(421, "Misdirected request: open the page at 127.0.0.1 or localhost")
            return None
        try:
            path = Path(self.translate_path(self.path))
            if path.is_dir():
                path = path / PAGE
            real = path.resolve()
            found = real.is_relative_to(self.server.root) and real.is_file()
        except (ValueError, OSError):  # a NUL byte (/%00), a name too long for the file system
            found = False
        if not found:
            self.send_error(404, "File not found")
            return None
        self.path = "/" + urllib.parse.quote(real.relative_to(self.server.root).as_posix())  # what the base opens
        return super().send_head()

    def handle_one_request(self):
        self.deadline = threading.Timer(REQUEST_SECONDS, self._drop)  # cancelled once the headers are in
        self.deadline.start()
        try:
            super().handle_one_request()
        finally:
            self.deadline.cancel()

    def parse_request(self) -> bool:  # reads the headers
        whole = super().parse_request()
        self.deadline.cancel()
        return whole

    def _drop(self) -> None:
        """A request still not whole after REQUEST_SECONDS: its connection is closed, its slot freed."""
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


class _Server(http.server.ThreadingHTTPServer):
    """A thread per connection, at most MAX_CONNECTIONS of them. A browser that stops reading mid-file
    (a reload, a closed tab) or a connection closed for idling is no error worth a traceback."""

    def __init__(self, folder: Path, port: int, idle_timeout: float):
        self.root = Path(folder).resolve()
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        timed = type("_TimedPageHandler", (_PageHandler,), {"timeout": idle_timeout})  # each connection's socket
        super().__init__(("127.0.0.1", port), functools.partial(timed, directory=str(self.root)))
        bound = self.server_address[1]
        self.hosts = {f"{name}:{bound}" for name in ("127.0.0.1", "localhost")}
        if bound == 80:
            self.hosts |= {"127.0.0.1", "localhost"}

    def process_request(self, request, client_address):
        self.slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def make_server(folder: Path, port: int = PORT, idle_timeout: float = IDLE_TIMEOUT) -> _Server:
    """A server for an export folder on 127.0.0.1 (`port` 0: any free port), not yet serving."""
    folder = Path(folder)
    if not 0 <= port <= 65535:
        raise BotError(f"--port must be between 0 and 65535 (got {port})")
    for piece in (MODEL, PAGE):
        if not (folder / piece).is_file():
            raise BotError(f"{folder}: not a web export, {piece} is missing (make one with `bot export`)")
    try:
        return _Server(folder, port, idle_timeout)
    except OSError as error:
        raise BotError(f"cannot listen on 127.0.0.1:{port} ({error.strerror}); try another --port") from error


def serve(folder: Path, port: int = PORT, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve an export folder on 127.0.0.1 (browsers do not fetch model.json from file://) until Ctrl-C."""
    server = make_server(folder, port)
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
