"""What the `bot` commands share: the consoles they print to and the options several of them take."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from twitterbot.config import Precision

console = Console(soft_wrap=True)  # long paths and URLs stay on one line, for people and for scripts
err_console = Console(stderr=True, soft_wrap=True)


OutOption = Annotated[Path, typer.Option("--out", "-o", help="folder to write")]

PrecisionOption = Annotated[
    Precision,
    typer.Option(
        help="mixed_bfloat16: bfloat16 products, float32 weights and optimizer (fastest on TensorFlow, AMX CPUs)"
    ),
]

ForceOption = Annotated[
    bool,
    typer.Option(
        "--force", help="replace an existing output folder of the same kind made by twitterbot (never an input)"
    ),
]

LinkOption = Annotated[
    str, typer.Option(help="what the model's link placeholder becomes, e.g. your site (default: dropped)")
]

TopKOption = Annotated[int, typer.Option(help="draw only from the k likeliest characters (0: all)")]

TopPOption = Annotated[float, typer.Option(help="draw only from the likeliest characters covering p (1: all)")]

MaxLenOption = Annotated[int, typer.Option(help="characters per tweet at most (one not ended by then is redrawn)")]

MentionOption = Annotated[
    str, typer.Option(help="what the model's @mention placeholder becomes, e.g. @yourbot (default: dropped)")
]

OverlapOption = Annotated[
    float,
    typer.Option(
        help="reject a tweet sharing a run this long (share of its length) with a training tweet, or --max-run"
    ),
]

MaxRunOption = Annotated[
    int, typer.Option(help="reject a tweet sharing a run of this many characters with a training tweet, or --overlap")
]

NonWordsOption = Annotated[
    float,
    typer.Option(
        help="reject a tweet with more words its corpus never had than one or this share of its words (<0: any)"
    ),
]

AllowMentionsOption = Annotated[
    bool, typer.Option("--allow-mentions", help="let @handles the model wrote through (a bot should not tag people)")
]

BlocklistOption = Annotated[Path | None, typer.Option(help="more blocked words or /regular expressions/, one a line")]


def typed(ctx: typer.Context, name: str) -> bool:
    """Whether the user gave this option on the command line (not its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"  # typer may vendor click's enum: compare names
