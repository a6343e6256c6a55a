"""`bot search`: hyperparameters with optuna."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from twitterbot.backend import import_keras
from twitterbot.cli.options import (
    ForceOption,
    OutOption,
    err_console,
)

SearchObjective = Literal["both", "loss"]


def search(
    data: Annotated[Path, typer.Argument(help="data folder made by `bot prepare`")],
    out: OutOption = Path("searches/search"),
    trials: Annotated[int, typer.Option(help="trials in all (with --resume: including those done)")] = 20,
    epochs_per_trial: Annotated[int, typer.Option(help="epochs each trial trains at most")] = 3,
    timeout: Annotated[float | None, typer.Option(help="stop starting trials after this many seconds")] = None,
    subset: Annotated[int | None, typer.Option(help="train on the first N characters of the data")] = None,
    seed: Annotated[int, typer.Option(help="seed of the sampler and of every trial")] = 0,
    objective: Annotated[
        SearchObjective, typer.Option(help="both: lowest loss and fewest parameters (Pareto front); loss: TPE")
    ] = "both",
    space: Annotated[Path | None, typer.Option(help="search space TOML (default: the shipped one)")] = None,
    storage: Annotated[
        str | None, typer.Option(help="optuna storage URL, e.g. postgresql://… for several machines (default: SQLite)")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="go on with the search saved in --out (or --storage)")
    ] = False,
    force: ForceOption = False,
) -> None:
    """Search hyperparameters with optuna: trains each trial briefly, stops bad ones early, ranks them in
    trials.csv, keeps the Pareto front's checkpoints, writes best.json for `bot train --config`."""
    import_keras(tensorflow=True)
    from twitterbot.search.space import DEFAULT_SPACE
    from twitterbot.search.study import SearchSettings
    from twitterbot.search.study import search as run_search

    settings = SearchSettings(trials, epochs_per_trial, timeout, subset, seed, objective, storage)
    run_search(data, out, settings, space or DEFAULT_SPACE, resume=resume, force=force, console=err_console)
