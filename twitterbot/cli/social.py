"""`bot fetch` and `bot post`: the X API, Mastodon and Bluesky."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Annotated, Literal

import typer

from twitterbot.cli.options import console, err_console, settings
from twitterbot.config import FilterOptions, SampleOptions
from twitterbot.errors import BotError
from twitterbot.social.fetch import SERVED

Destination = Literal["x", "mastodon", "bluesky"]


def fetch(
    username: Annotated[str, typer.Argument(help="the account, with or without @")],
    out: Annotated[Path, typer.Option("--out", "-o", help="JSON lines to append to (what bot prepare reads)")],
    limit: Annotated[int, typer.Option(help=f"tweets to fetch at most (X serves the latest {SERVED:,})")] = SERVED,
    exclude: Annotated[
        list[str] | None,
        typer.Option(metavar="<retweets|replies>", help="leave these out (give --exclude twice for both)"),
    ] = None,
    since_id: Annotated[
        str | None, typer.Option(help="only tweets newer than this id (default: the file's newest)")
    ] = None,
    env_file: Annotated[Path | None, typer.Option(help="KEY=VALUE lines with X_BEARER_TOKEN")] = None,
) -> None:
    """Fetch an account's latest tweets through the X API v2. Reading costs money under X's pay-per-use
    pricing (~$0.005 a post) and X serves only the latest 3,200: the free "Download your data" archive
    (tweets.js, or its .zip, read by bot prepare) is the first choice. Needs X_BEARER_TOKEN. An
    interrupted fetch goes on where it stopped; a later one adds only newer tweets."""
    from twitterbot.social.apikeys import read_secrets
    from twitterbot.social.fetch import BEARER
    from twitterbot.social.fetch import fetch as run_fetch

    token = read_secrets([BEARER], env_file)[BEARER]
    say = functools.partial(err_console.print, markup=False, highlight=False)
    result = run_fetch(username, out, token, limit=limit, exclude=tuple(exclude or ()), since_id=since_id, say=say)
    console.print(f"@{result.user}: {result.fetched:,} new tweets; {result.total:,} in {out}")


@settings(FilterOptions, "filtering")
@settings(SampleOptions, "sampling", skip=("seed_text",))
def post(
    checkpoint: Annotated[Path | None, typer.Argument(help="checkpoint folder (default: the bundled model)")] = None,
    live: Annotated[bool, typer.Option("--live", help="really post (default: a dry run that sends nothing)")] = False,
    to: Annotated[Destination, typer.Option(help="where to post")] = "x",
    count: Annotated[int, typer.Option("--count", "-n", help="posts to make")] = 1,
    every: Annotated[str | None, typer.Option(help="time between posts, like 3h or 90m (±10 %)")] = None,
    env_file: Annotated[Path | None, typer.Option(help="KEY=VALUE lines with the API keys")] = None,
    log: Annotated[
        Path | None, typer.Option(help="the post log (default: posted.jsonl in the checkpoint folder)")
    ] = None,
    *,
    sampling: SampleOptions,
    filtering: FilterOptions,
) -> None:
    """Post what the model writes: the first candidate that passes every filter and was never posted.
    A dry run unless --live. Keys from the environment (or --env-file): X_API_KEY, X_API_SECRET,
    X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET for X (posting costs money under its pay-per-use pricing);
    MASTODON_API_BASE_URL, MASTODON_ACCESS_TOKEN; BLUESKY_HANDLE, BLUESKY_APP_PASSWORD."""
    from twitterbot.social import post as posting
    from twitterbot.social.apikeys import read_secrets
    from twitterbot.training.checkpoint import open_checkpoint
    from twitterbot.writing.filters import Filters

    every_seconds = None if every is None else posting.parse_every(every)
    if every_seconds and count == 1:
        raise BotError("--every needs --count above 1 (or run `bot post` from cron with --count 1)")
    kind = posting.DESTINATIONS[to]
    destination = kind(read_secrets(kind.keys, env_file)) if live else None
    filtering = dataclasses.replace(filtering, max_length=kind.max_length)
    ckpt = open_checkpoint(checkpoint)
    filters = Filters(filtering, ckpt.novelty(), sampling.mention, kind.length, ckpt.words())
    say = functools.partial(err_console.print, markup=False, highlight=False)
    posting.run(ckpt, sampling, filters, log or ckpt.post_log, destination, count, every_seconds, say)
