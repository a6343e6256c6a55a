"""API keys and API errors of the networks bots post to: keys come from an env file or the environment and
go to the client library only; no message holds one."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from twitterbot.errors import BotError
from twitterbot.fsutil import read_text

if TYPE_CHECKING:
    import tweepy

MAX_ENV_BYTES = 1 << 20  # a few keys take a few hundred bytes
X_TIMEOUT = (10, 60)  # seconds to connect, and to wait for a reply: a proxy that never answers is given up on


def read_secrets(names: Iterable[str], env_file: Path | None = None) -> dict[str, str]:
    """Credentials by name from an env file (KEY=VALUE lines, read as python-dotenv reads a .env) or else
    the environment; a missing one is named in a one-line error (its value never is)."""
    found: dict[str, str | None] = {}
    if env_file is not None:
        # utf-8-sig: a byte-order mark would hide the first key
        text = read_text(Path(env_file), MAX_ENV_BYTES, "an env file of KEY=VALUE lines", encoding="utf-8-sig")
        from dotenv import dotenv_values  # as dotenv reads them: comments, quotes, `export`

        found = dotenv_values(stream=io.StringIO(text))
    secrets = {name: found.get(name) or os.environ.get(name, "") for name in names}
    missing = [name for name, value in secrets.items() if not value]
    if missing:
        where = f" or in {env_file}" if env_file else ""
        raise BotError(f'set {", ".join(missing)} in the environment{where} (API keys: README, "Make it post")')
    return secrets


def api_reason(error: Exception) -> str:
    """An API error's status and the service's own message, nothing from the request (its headers hold keys)."""
    response = getattr(error, "response", None)
    status = f"{response.status_code} {response.reason}" if response is not None else type(error).__name__
    messages = "; ".join(getattr(error, "api_messages", []) or [])
    return f"{status}: {messages}" if messages else status


def x_client(**credentials: object) -> tweepy.Client:
    """tweepy's X API v2 client, every request of it under X_TIMEOUT (tweepy itself waits without end)."""
    import requests
    import tweepy

    class TimedSession(requests.Session):
        def request(self, *args, **kwargs):
            kwargs.setdefault("timeout", X_TIMEOUT)
            return super().request(*args, **kwargs)

    client = tweepy.Client(**credentials)
    client.session = TimedSession()
    return client
