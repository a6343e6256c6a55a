"""`bot post`: write candidates, keep the first that passes every filter, post it (dry run unless live),
remember it; on a schedule if asked.

Destinations: X through tweepy's v2 `Client.create_tweet` (OAuth 1.0a user context: four keys from the
environment or an env file). Secrets are read here and handed to tweepy only: never printed, logged or
written, and no error message holds one.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import tempfile
import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from twitterbot import fsutil
from twitterbot.config import TWEET_LENGTH, SampleOptions
from twitterbot.errors import BotError
from twitterbot.social.apikeys import X_TIMEOUT, api_reason, x_client
from twitterbot.training.checkpoint import Checkpoint
from twitterbot.writing.filters import Filters, x_length
from twitterbot.writing.sample import STREAMS, Sampler

X_KEYS = ("X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")
CANDIDATES = 16  # drawn in parallel per try
TRIES = 20  # groups of candidates drawn before giving up on one post
RETRIES = 4  # network and server errors: tries of one post, with backoff 2, 4, 8 s
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MINUTE, YEAR = 60, 366 * 86400  # the range of --every


@dataclass
class Clock:
    """Time, replaceable in tests: the schedule and retries sleep through it."""

    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


class Destination(Protocol):
    """Where posts go: its name, the keys it needs, how it counts a post's length and its limit."""

    name: str
    keys: tuple[str, ...]
    max_length: int
    secrets: dict[str, str]  # never in a message, even where a server echoes them

    def length(self, text: str) -> int: ...

    def post(self, text: str, key: str) -> str:
        """Post `text`; return its id. `key` is the same for every retry of one post: where the API takes
        an idempotency key, a retry after a lost reply does not post twice."""

    def failure(self, error: Exception) -> tuple[bool, str]: ...


class XDestination:
    """Posts to X through tweepy (API v2, OAuth 1.0a user context)."""

    name = "x"
    keys = X_KEYS
    max_length = TWEET_LENGTH  # weighted, as twitter-text counts
    length = staticmethod(x_length)

    def __init__(self, secrets: dict[str, str]):
        import tweepy

        self.tweepy, self.secrets = tweepy, secrets
        self.client = x_client(
            consumer_key=secrets["X_API_KEY"],
            consumer_secret=secrets["X_API_SECRET"],
            access_token=secrets["X_ACCESS_TOKEN"],
            access_token_secret=secrets["X_ACCESS_TOKEN_SECRET"],
        )

    def post(self, text: str, key: str) -> str:  # X's API takes no idempotency key
        return str(self.client.create_tweet(text=text, user_auth=True).data["id"])

    def failure(self, error: Exception) -> tuple[bool, str]:
        """(worth retrying, one line) for an error of `post`."""
        import requests

        if isinstance(error, requests.ReadTimeout):  # it may have been posted: a retry could post it twice
            return False, f"no reply within {X_TIMEOUT[1]} s: it may have been posted; look before posting again"
        if isinstance(error, self.tweepy.TooManyRequests | self.tweepy.TwitterServerError | requests.ConnectionError):
            return True, api_reason(error)
        if isinstance(error, self.tweepy.Unauthorized):
            return False, "X refused the keys (401 Unauthorized): check " + ", ".join(X_KEYS)
        if isinstance(error, self.tweepy.HTTPException):
            return False, f"X refused the post ({api_reason(error)})"
        return False, api_reason(error)


class MastodonDestination:
    """Posts a public status to a Mastodon server through Mastodon.py (a server URL and an access token)."""

    name = "mastodon"
    keys = ("MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN")
    max_length = 500  # Mastodon's default; a link counts 23, like X's

    @staticmethod
    def length(text: str) -> int:
        return len(_LINK.sub("x" * 23, unicodedata.normalize("NFC", text)))

    def __init__(self, secrets: dict[str, str]):
        import mastodon

        self.mastodon, self.secrets = mastodon, secrets
        self.client = mastodon.Mastodon(
            access_token=secrets["MASTODON_ACCESS_TOKEN"],
            api_base_url=secrets["MASTODON_API_BASE_URL"],
            ratelimit_method="throw",  # the retry loop here waits, with the same backoff as for X
            request_timeout=60,
        )

    def post(self, text: str, key: str) -> str:
        return str(self.client.status_post(text, visibility="public", idempotency_key=key)["id"])

    def failure(self, error: Exception) -> tuple[bool, str]:
        m = self.mastodon
        if isinstance(error, m.MastodonNetworkError | m.MastodonServerError | m.MastodonRatelimitError):
            return True, _first_line(error)
        if isinstance(error, m.MastodonUnauthorizedError):
            return False, "the server refused the token (401): check " + ", ".join(self.keys)
        return False, f"the server refused the post ({_first_line(error)})"


class BlueskyDestination:
    """Posts to Bluesky through atproto (a handle and an app password)."""

    name = "bluesky"
    keys = ("BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD")
    max_length = 300  # graphemes

    @staticmethod
    def length(text: str) -> int:
        import regex

        return len(regex.findall(r"\X", unicodedata.normalize("NFC", text)))

    def __init__(self, secrets: dict[str, str], base_url: str | None = None):
        import atproto
        import atproto_client.exceptions

        self.errors = atproto_client.exceptions
        self.secrets = secrets
        self.client = atproto.Client(base_url)
        self.logged_in = False

    def post(self, text: str, key: str) -> str:  # createRecord takes no idempotency key
        if not self.logged_in:
            self.client.login(
                self.secrets["BLUESKY_HANDLE"], self.secrets["BLUESKY_APP_PASSWORD"], fetch_bsky_profile=False
            )
            self.logged_in = True
        # the record's repo named by handle (an at-identifier), not the profile a login would look up
        return str(self.client.send_post(text, profile_identify=self.secrets["BLUESKY_HANDLE"]).uri)

    def failure(self, error: Exception) -> tuple[bool, str]:
        e = self.errors
        status = getattr(getattr(error, "response", None), "status_code", 0) or 0
        if isinstance(error, e.NetworkError | e.InvokeTimeoutError | e.RateLimitExceededError) or status >= 500:
            return True, _first_line(error)
        if isinstance(error, e.UnauthorizedError | e.LoginRequiredError):
            return False, "Bluesky refused the login: check " + ", ".join(self.keys)
        return False, f"Bluesky refused the post ({_first_line(error)})"


DESTINATIONS = {"x": XDestination, "mastodon": MastodonDestination, "bluesky": BlueskyDestination}
_LINK = re.compile(r"https?://\S+")


def _first_line(error: Exception) -> str:
    """An error's kind and first line: client libraries' messages carry no keys, but may run long."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__


def _key(text: str) -> str:
    """What makes two posts the same one: NFC, case and spacing aside."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


class PostLog:
    """What was posted (JSON lines: time, id, text, destination), rewritten atomically after each post."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.entries: list[dict] = []
        self.check_path(self.path)
        if self.path.exists():
            try:
                lines = self.path.read_bytes().decode("utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as error:
                raise BotError(f"{self.path}: cannot read the post log ({error})") from None
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except (json.JSONDecodeError, RecursionError, ValueError) as error:
                    raise BotError(f"{self.path}:{number}: not a post log line ({_first_line(error)})") from None
                if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
                    raise BotError(f'{self.path}:{number}: not a post log line (no "text" string)')
                self.entries.append(entry)
        self.posted = {_key(entry["text"]) for entry in self.entries}

    @staticmethod
    def check_path(path: Path) -> None:
        if path.exists() and not path.is_file():
            raise BotError(f"{path}: not a regular file (the post log is a JSON lines file)")

    def check_writable(self) -> None:
        """Refuse before anything is sent if the log cannot be written: a post not recorded may go out again."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.path.parent, prefix=fsutil.temp_prefix(self.path.name)):
                pass
        except OSError as error:
            raise BotError(
                f"cannot write the post log {self.path} ({error.strerror or error}): nothing was posted"
            ) from None

    def has(self, text: str) -> bool:
        return _key(text) in self.posted

    def add(self, entry: dict) -> None:
        """Record a post that was sent; if that fails, say it was sent and what to add by hand."""
        self.entries.append(entry)
        self.posted.add(_key(entry["text"]))
        line = json.dumps(entry, ensure_ascii=False)
        try:
            fsutil.write_text(self.path, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in self.entries))
        except OSError as error:
            raise BotError(
                f"posted as {entry['id']}, but could not record it in {self.path} ({error.strerror or error}): "
                f"add this line to it, or it may be posted again: {line}"
            ) from None


@dataclass
class Outcome:
    text: str | None  # None: no candidate passed
    post_id: str | None
    drawn: int
    rejected: Counter


def post_once(
    sampler: Sampler,
    options: SampleOptions,
    filters: Filters,
    log: PostLog,
    destination: Destination | None,
    rng: np.random.Generator,
    say: Callable[[str], None],
    clock: Clock,
) -> Outcome:
    """Draw candidates until one passes every filter and was never posted; post it (`destination` None: a
    dry run, nothing is sent)."""
    rejected: Counter = Counter()
    drawn = 0
    for _ in range(TRIES):
        for raw, rendered, ended in sampler.candidates(min(CANDIDATES, STREAMS), options, rng):
            drawn += 1
            reason = filters.rejection(raw, rendered, ended) or ("posted before" if log.has(rendered) else None)
            if reason:
                rejected[reason] += 1
                say(f"rejected ({reason}): {rendered!r}")
                continue
            post_id = _send(destination, rendered, clock, say) if destination else None
            if destination:
                log.add(
                    {"time": clock.now().isoformat(), "id": post_id, "text": rendered, "destination": destination.name}
                )
            return Outcome(rendered, post_id, drawn, rejected)
    return Outcome(None, None, drawn, rejected)


def _send(destination: Destination, text: str, clock: Clock, say: Callable[[str], None]) -> str:
    key = uuid.uuid4().hex  # one post, however many tries
    for attempt in range(RETRIES):
        try:
            return destination.post(text, key)
        except Exception as error:  # sorted into retry / refuse by the destination
            retry, line = destination.failure(error)
            for secret in filter(None, destination.secrets.values()):  # a server may echo what it was sent
                line = line.replace(secret, "…")
            if not retry or attempt == RETRIES - 1:
                raise BotError(f"{destination.name}: could not post: {line}") from None
            wait = 2 ** (attempt + 1)
            say(f"{destination.name}: {line}; trying again in {wait} s")
            clock.sleep(wait)
    raise AssertionError("unreachable")


def parse_every(text: str) -> float:
    """'3h', '90m', '45s', '1d' → seconds."""
    number, unit = text[:-1], text[-1:].lower()
    try:
        seconds = float(number) * UNITS[unit]
    except (ValueError, KeyError):
        raise BotError(f"--every must be a number with s, m, h or d, like 3h or 90m (got {text!r})") from None
    if not MINUTE <= seconds <= YEAR:
        raise BotError(f"--every must be at least a minute and at most a year (got {text!r})")
    return seconds


def run(
    ckpt: Checkpoint,
    options: SampleOptions,
    filters: Filters,
    log_path: Path,
    destination: Destination | None,
    count: int,
    every: float | None,
    say: Callable[[str], None],
    clock: Clock | None = None,
    jitter: float = 0.1,
) -> list[Outcome]:
    """Post `count` times, `every` seconds apart (± `jitter` of it), until done or Ctrl-C. A live run holds
    the log's lock: two bots on one log could post the same text twice."""
    if count < 1:
        raise BotError(f"--count must be at least 1 (got {count})")
    PostLog.check_path(Path(log_path))  # before its lock file is made beside it
    with contextlib.ExitStack() as held:
        if destination is not None:
            held.enter_context(fsutil.lock(log_path, f"post log {log_path}"))
        return _post_all(
            ckpt, options, filters, PostLog(log_path), destination, count, every, say, clock or Clock(), jitter
        )


def _post_all(
    ckpt: Checkpoint,
    options: SampleOptions,
    filters: Filters,
    log: PostLog,
    destination: Destination | None,
    count: int,
    every: float | None,
    say: Callable[[str], None],
    clock: Clock,
    jitter: float,
) -> list[Outcome]:
    if destination is not None:
        log.check_writable()
    sampler = Sampler(ckpt)
    sampler.check_seed_text(options)
    rng = np.random.default_rng(options.seed)
    jitter_rng = random.Random(options.seed)
    outcomes = []
    for number in range(count):
        if number and every:
            wait = every * (1 + jitter_rng.uniform(-jitter, jitter))
            say(f"next post in {wait / 60:.0f} min (Ctrl-C stops)")
            clock.sleep(wait)
        outcome = post_once(sampler, options, filters, log, destination, rng, say, clock)
        outcomes.append(outcome)
        if outcome.text is None:
            raise BotError(f"no candidate passed the filters in {outcome.drawn} tries ({_counts(outcome.rejected)})")
        where = f"posted to {destination.name} as {outcome.post_id}" if destination else "dry run, not posted"
        say(f"{where} after {outcome.drawn} candidate(s): {outcome.text}")
    return outcomes


def _counts(rejected: Counter) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in rejected.most_common()) or "none"
