"""`bot fetch`: an account's latest tweets through the X API v2, as JSON lines `bot prepare` reads.

X serves only an account's latest 3,200 posts and, under its pay-per-use pricing, bills every post
read (~$0.005 each): the archive download ("Download your data") is free and complete, and the first
choice. A fetch appends each page as it arrives and keeps its place in a state file beside the output,
so an interrupted one goes on where it stopped; a later one fetches only what is newer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from twitterbot import fsutil
from twitterbot.errors import BotError
from twitterbot.social.apikeys import api_reason, x_client

BEARER = "X_BEARER_TOKEN"
SERVED = 3200  # X serves an account's latest 3,200 posts, no more
PRICE_PER_READ = 0.005  # US dollars, X's pay-per-use price of reading one post (2026)
PAGE = 100  # max_results per request
WRITING = "writing_from"  # in the state file while a page is being appended: the file's size before it
EXCLUDES = ("retweets", "replies")
TWEET_FIELDS = ["created_at", "lang", "note_tweet"]  # note_tweet: a long post's whole text (`text` is cut)


@dataclass(frozen=True)
class FetchResult:
    user: str
    fetched: int
    total: int  # tweets in the file afterwards


def fetch(
    username: str,
    out: Path,
    bearer_token: str,
    limit: int = SERVED,
    exclude: tuple[str, ...] = (),
    since_id: str | None = None,
    say: Callable[[str], None] = print,
) -> FetchResult:
    """Append `username`'s tweets newer than `since_id` (default: the newest already in `out`) to `out`."""
    import requests
    import tweepy

    username = username.removeprefix("@")
    if not 1 <= limit:
        raise BotError(f"--limit must be at least 1 (got {limit})")
    unknown = set(exclude) - set(EXCLUDES)
    if unknown:
        raise BotError(f"--exclude takes {', '.join(EXCLUDES)} (got {', '.join(sorted(unknown))})")
    out = Path(out)
    if out.exists() and not out.is_file():
        raise BotError(f"{out}: not a regular file (fetch appends tweets to a JSON lines file)")
    state_path = out.with_name(f".{out.name}.fetch.json")
    state = fsutil.read_json(state_path) if state_path.exists() else {}
    _drop_cut_line(out, state.pop(WRITING, None))
    seen = _ids_in(out)
    client = x_client(bearer_token=bearer_token, wait_on_rate_limit=True)  # sleeps to x-rate-limit-reset
    try:
        user = client.get_user(username=username, user_fields=["public_metrics"]).data
        if user is None:
            raise BotError(f"@{username}: no such X account")
        posts = (user.public_metrics or {}).get("tweet_count", 0)
        say(
            f"@{username} has {posts:,} posts; X serves the latest {SERVED:,}; fetching up to {limit:,} "
            f"(reading costs about ${PRICE_PER_READ:.3f} a post: up to ${limit * PRICE_PER_READ:,.2f})"
        )
        newer_than = state.get("since_id", since_id or max(seen, key=int, default=None))
        fetched = 0
        with open(out, "a", encoding="utf-8") as stream:
            while fetched < limit:
                page = client.get_users_tweets(
                    user.id,
                    max_results=PAGE,
                    exclude=list(exclude) or None,
                    since_id=newer_than,
                    pagination_token=state.get("next_token"),
                    tweet_fields=TWEET_FIELDS,
                )
                tweets = [t.data for t in page.data or [] if str(t.id) not in seen][: limit - fetched]
                written = os.fstat(stream.fileno()).st_size  # every earlier page is flushed
                fsutil.write_json(state_path, {**state, WRITING: written})  # a kill now cuts only this page
                stream.write("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in tweets))
                stream.flush()
                os.fsync(stream.fileno())
                seen |= {str(t["id"]) for t in tweets}
                fetched += len(tweets)
                say(f"{fetched:,} tweets fetched")
                next_token = (page.meta or {}).get("next_token")
                if next_token:
                    state = {"since_id": newer_than, "next_token": next_token}
                fsutil.write_json(state_path, state)  # an interrupted fetch goes on from here
                if not next_token or fetched >= limit:
                    break
    except tweepy.Unauthorized:
        raise BotError(f"X refused the token (401 Unauthorized): check {BEARER}") from None
    except tweepy.NotFound:
        raise BotError(f"@{username}: no such X account") from None
    except tweepy.TwitterServerError as error:
        raise BotError(f"X failed ({api_reason(error)}); run the same command again to go on") from None
    except tweepy.HTTPException as error:  # 400, 403: what was asked is not allowed (e.g. the app's access level)
        raise BotError(f"X refused the request ({api_reason(error)})") from None
    except requests.RequestException as error:  # no connection, or no reply within X_TIMEOUT
        raise BotError(f"X did not answer ({type(error).__name__}); run the same command again to go on") from None
    state_path.unlink(missing_ok=True)
    return FetchResult(username, fetched, len(seen))


def _drop_cut_line(path: Path, writing_from: object) -> None:
    """A fetch killed mid-write can leave half a line: cut what it was writing (its state file says from
    where), so appended lines stay whole. A last line without a newline that no fetch was writing is the
    user's: refused, never cut."""
    size = path.stat().st_size if path.is_file() else 0
    if size == 0:
        return
    with open(path, "rb") as stream:
        stream.seek(size - 1)
        whole = stream.read(1) == b"\n"
    if whole:
        return
    if not isinstance(writing_from, int) or not 0 <= writing_from <= size:
        raise BotError(
            f"{path}: its last line does not end with a newline, and no fetch was writing it: end it with one "
            "(or choose another --out) so appended tweets stay whole lines"
        )
    with open(path, "r+b") as stream:
        stream.truncate(writing_from)


def _ids_in(path: Path) -> set[str]:
    """The numeric ids of the tweets in `path` (a fetch's earlier lines; lines of other shapes are kept as
    they are and ignored)."""
    if not path.exists():
        return set()
    ids = set()
    with open(path, "rb") as stream:
        for number, line in enumerate(stream, 1):
            try:
                tweet = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError:
                raise BotError(f"{path}:{number}: not UTF-8 text (a file bot fetch appends to is JSON lines)") from None
            except (json.JSONDecodeError, RecursionError, ValueError):
                continue
            if isinstance(tweet, dict) and str(tweet.get("id", "")).isdecimal():
                ids.add(str(tweet["id"]))
    return ids
