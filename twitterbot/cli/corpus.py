"""`bot prepare`: read tweets into a data folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from twitterbot.cli.options import (
    ForceOption,
    OutOption,
    console,
    err_console,
)
from twitterbot.config import (
    PrepareOptions,
)
from twitterbot.corpus.clean import CleanOptions, Links, Mentions, Replies, Retweets


def prepare(
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="INPUT...", help="tweets.js / archive .zip / CSV / JSON(L) / text files, folders or globs"
        ),
    ],
    out: OutOption = Path("data/tweets"),
    retweets: Annotated[Retweets, typer.Option(help="drop or keep retweets (RT @…)")] = CleanOptions.retweets,
    links: Annotated[Links, typer.Option(help="token: one placeholder per link; drop; keep")] = CleanOptions.links,
    mentions: Annotated[
        Mentions, typer.Option(help="token: each @handle becomes a placeholder, never shown (no tagging); drop; keep")
    ] = CleanOptions.mentions,
    replies: Annotated[
        Replies, typer.Option(help="strip: drop a reply's leading @handles (X shows them apart); keep")
    ] = CleanOptions.replies,
    debris: Annotated[
        bool, typer.Option("--debris/--keep-debris", help="drop zero-width characters and emoji parts without emoji")
    ] = CleanOptions.debris,
    html: Annotated[
        bool, typer.Option("--html/--no-html", help="unescape HTML entities (&amp; → &)")
    ] = CleanOptions.unescape_html,
    nfc: Annotated[bool, typer.Option("--nfc/--no-nfc", help="normalise Unicode to NFC")] = CleanOptions.normalize,
    control: Annotated[
        bool, typer.Option("--strip-control/--keep-control", help="strip control characters")
    ] = CleanOptions.strip_control,
    dedupe: Annotated[
        bool, typer.Option("--dedupe/--keep-duplicates", help="drop exact duplicate tweets")
    ] = CleanOptions.dedupe,
    validate: Annotated[float, typer.Option(help="fraction of tweets for validation")] = PrepareOptions.validate,
    test: Annotated[float, typer.Option(help="fraction of tweets for the test split")] = PrepareOptions.test,
    coverage: Annotated[
        float, typer.Option(help="vocabulary covers this share of characters; the rest become <unk>")
    ] = PrepareOptions.coverage,
    max_vocab: Annotated[int | None, typer.Option(help="at most this many ids")] = PrepareOptions.max_vocab,
    seed: Annotated[int, typer.Option(help="seed of the tweet-level split")] = PrepareOptions.seed,
    vocab: Annotated[
        Path | None,
        typer.Option(
            help="encode with this checkpoint's (or data folder's) vocabulary instead of building one, for "
            "finetune; 'bundled' is the bundled base model's"
        ),
    ] = None,
    force: ForceOption = False,
) -> None:
    """Read tweets, clean them, and write a data folder (data.h5, vocab.json, prepare.json)."""
    from twitterbot.config import BUNDLED
    from twitterbot.corpus.prepare import prepare as run_prepare
    from twitterbot.corpus.vocab import Vocab

    options = CleanOptions(
        unescape_html=html,
        retweets=retweets,
        links=links,
        mentions=mentions,
        replies=replies,
        debris=debris,
        normalize=nfc,
        strip_control=control,
        dedupe=dedupe,
    )
    with Progress(
        *Progress.get_default_columns()[:2],
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        if vocab == Path("bundled") and not vocab.exists():
            vocab = BUNDLED
        task = bar.add_task("reading", total=None)
        summary = run_prepare(
            inputs,
            out,
            options,
            validate=validate,
            test=test,
            seed=seed,
            coverage=coverage,
            max_vocab=max_vocab,
            vocab=Vocab.of(vocab) if vocab else None,
            force=force,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    table = Table(title=f"prepared {out}")
    table.add_column("file")
    table.add_column("tweets read", justify="right")
    for name, count in summary.files.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    dropped = ", ".join(f"{n:,} {reason}" for reason, n in summary.dropped.items()) or "none"
    console.print(f"kept {summary.kept:,} tweets; dropped {dropped}")
    console.print(
        "split: "
        + ", ".join(f"{name} {summary.tweets[name]:,} tweets / {summary.ids[name]:,} ids" for name in summary.tweets)
    )
    console.print(
        f"vocabulary: {summary.vocab_size} ids, covering {summary.coverage:.4%} of characters "
        f"({summary.unknown_chars:,} characters became <unk>)"
    )
