"""`bot prepare`: read tweets into a data folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from twitterbot.cli.options import ForceOption, OutOption, console, err_console, settings
from twitterbot.config import PrepareOptions
from twitterbot.corpus.clean import CleanOptions


@settings(PrepareOptions, "splitting")
@settings(CleanOptions, "cleaning")
def prepare(
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="INPUT...", help="tweets.js / archive .zip / CSV / JSON(L) / text files, folders or globs"
        ),
    ],
    cleaning: CleanOptions,
    splitting: PrepareOptions,
    out: OutOption = Path("data/tweets"),
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
    from twitterbot.corpus.prepare import prepare as run_prepare
    from twitterbot.corpus.vocab import Vocab

    with Progress(
        *Progress.get_default_columns()[:2],
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("reading", total=None)
        summary = run_prepare(
            inputs,
            out,
            cleaning,
            **dataclasses.asdict(splitting),
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
