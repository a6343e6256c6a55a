"""`bot generate`: tweets from a checkpoint, through the filters."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from twitterbot.cli.options import console, err_console, settings
from twitterbot.config import FilterOptions, SampleOptions


@settings(FilterOptions, "filtering")
@settings(SampleOptions, "sampling")
def generate(
    checkpoint: Annotated[Path | None, typer.Argument(help="checkpoint folder (default: the bundled model)")] = None,
    count: Annotated[int, typer.Option("--count", "-n", help="how many tweets")] = 1,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="also write the tweets here (JSON lines)")] = None,
    filtered: Annotated[
        bool,
        typer.Option("--filter/--no-filter", help="show only tweets that pass every filter (--no-filter: raw samples)"),
    ] = True,
    *,
    sampling: SampleOptions,
    filtering: FilterOptions,
) -> None:
    """Write tweets with a trained model, several in parallel. Links and @mentions the model learned
    where to put are dropped unless --link / --mention say what they become. Shown are only tweets that
    pass the filters: whole, not a copy of a training tweet, no @mention of people, within X's 280, words
    the corpus had, nothing on the blocklist, no loop; it says how many candidates that took."""
    from twitterbot import fsutil
    from twitterbot.training.checkpoint import open_checkpoint
    from twitterbot.writing.filters import Filters
    from twitterbot.writing.sample import STREAMS
    from twitterbot.writing.sample import generate as run_generate

    ckpt = open_checkpoint(checkpoint)
    filters = Filters(filtering, ckpt.novelty(), sampling.mention, words=ckpt.words()) if filtered else None
    tweets = run_generate(ckpt, count, sampling, filters)
    with contextlib.ExitStack() as stack:
        lines = None
        if out:
            lines = stack.enter_context(open(stack.enter_context(fsutil.atomic_path(out)), "w", encoding="utf-8"))
        progress = stack.enter_context(  # tweets come a group of STREAMS at a time: show the wait for the next
            Progress(*Progress.get_default_columns(), console=err_console, transient=True, disable=count <= STREAMS)
        )
        written = progress.add_task("writing tweets", total=count)
        for tweet in tweets:  # each as soon as its group is drawn
            console.print(tweet, markup=False, highlight=False)
            console.rule(style="dim")
            if lines:
                lines.write(json.dumps({"text": tweet}, ensure_ascii=False) + "\n")
            progress.advance(written)
    if filters:
        err_console.print(tweets.report(), highlight=False)
        tweets.require_all()
