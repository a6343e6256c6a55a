"""`bot search`: hyperparameters with optuna."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twitterbot.backend import import_keras
from twitterbot.cli.options import ForceOption, OutOption, err_console
from twitterbot.cli.options import settings as settings_of
from twitterbot.config import SearchSettings


@settings_of(SearchSettings, "settings")
def search(
    data: Annotated[Path, typer.Argument(help="data folder made by `bot prepare`")],
    settings: SearchSettings,
    out: OutOption = Path("searches/search"),
    space: Annotated[Path | None, typer.Option(help="search space TOML (default: the shipped one)")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="go on with the search saved in --out (or --storage)")
    ] = False,
    force: ForceOption = False,
) -> None:
    """Search hyperparameters with optuna: trains each trial briefly, stops bad ones early, ranks them in
    trials.csv, keeps the Pareto front's checkpoints, writes best.json for `bot train --config`."""
    import_keras(tensorflow=True)
    from twitterbot.search.space import DEFAULT_SPACE
    from twitterbot.search.study import search as run_search

    run_search(data, out, settings, space or DEFAULT_SPACE, resume=resume, force=force, console=err_console)
