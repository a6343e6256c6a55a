"""`bot generate`: tweets from a checkpoint, through the filters."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from twitterbot.cli.options import (
    AllowMentionsOption,
    BlocklistOption,
    LinkOption,
    MaxLenOption,
    MaxRunOption,
    MentionOption,
    NonWordsOption,
    OverlapOption,
    TopKOption,
    TopPOption,
    console,
    err_console,
)
from twitterbot.config import (
    FilterOptions,
    SampleOptions,
)
from twitterbot.errors import BotError


def generate(
    checkpoint: Annotated[Path | None, typer.Argument(help="checkpoint folder (default: the bundled model)")] = None,
    temp: Annotated[
        float,
        typer.Option(
            "--temp",
            "-t",
            help="sampling temperature (>0): lower sticks to the model's likeliest, commonest phrasing; "
            "higher is more varied, more often misspelt and shorter",
        ),
    ] = SampleOptions.temperature,
    top_k: TopKOption = SampleOptions.top_k,
    top_p: TopPOption = SampleOptions.top_p,
    seed_text: Annotated[str, typer.Option(help="start every tweet with this text")] = SampleOptions.seed_text,
    count: Annotated[int, typer.Option("--count", "-n", help="how many tweets")] = 1,
    max_len: MaxLenOption = SampleOptions.max_len,
    seed: Annotated[int | None, typer.Option(help="random seed for reproducible samples")] = None,
    link: LinkOption = SampleOptions.link,
    mention: MentionOption = SampleOptions.mention,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="also write the tweets here (JSON lines)")] = None,
    filtered: Annotated[
        bool,
        typer.Option("--filter/--no-filter", help="show only tweets that pass every filter (--no-filter: raw samples)"),
    ] = True,
    overlap: OverlapOption = FilterOptions.overlap,
    max_run: MaxRunOption = FilterOptions.max_run,
    non_words: NonWordsOption = FilterOptions.non_words,
    allow_mentions: AllowMentionsOption = FilterOptions.allow_mentions,
    blocklist: BlocklistOption = None,
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

    options = SampleOptions(
        temperature=temp,
        top_k=top_k,
        top_p=top_p,
        max_len=max_len,
        seed_text=seed_text,
        seed=seed,
        link=link,
        mention=mention,
    )
    filter_options = FilterOptions(
        overlap=overlap,
        max_run=max_run,
        non_words=non_words,
        allow_mentions=allow_mentions,
        blocklist=str(blocklist or ""),
    )
    ckpt = open_checkpoint(checkpoint)
    filters = Filters(filter_options, ckpt.novelty(), options.mention, words=ckpt.words()) if filtered else None
    tweets = run_generate(ckpt, count, options, filters)
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
        rejected = ", ".join(f"{n} {reason}" for reason, n in tweets.rejected.most_common()) or "none"
        missing = [what for what, index in (("copies", filters.novelty), ("words", filters.words)) if index is None]
        unchecked = f" ({' and '.join(missing)} not checked: the checkpoint has no index of them)" if missing else ""
        cost = f" ({tweets.drawn / tweets.passed:.1f} candidates a tweet)" if tweets.passed else ""
        err_console.print(
            f"{tweets.passed} of {tweets.drawn} candidates passed the filters{cost}{unchecked}; rejected: {rejected}",
            highlight=False,
        )
        if tweets.passed < count:
            raise BotError(f"only {tweets.passed} of {count} tweets passed the filters in {tweets.drawn} candidates")
