"""What a search leaves: trials.csv ranked, the Pareto front's checkpoints kept (others deleted),
best.json for `bot train --config`, the plots, and the lines printed."""

from __future__ import annotations

import csv
import math
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry
from rich.console import Console

from twitterbot import fsutil
from twitterbot.config import Config, Objective
from twitterbot.training import checkpoint

TRIALS = "trials.csv"
BEST = "best.json"
KEEP = 5  # trial checkpoints kept besides the Pareto front: the best by loss


def report(study: optuna.Study, out: Path, objective: Objective, console: Console) -> None:
    """trials.csv (ranked by validation loss), best.json, the best 10 as a table, and the plots; keep only
    the checkpoints of the Pareto front and the KEEP best."""
    finished = [t for t in study.trials if t.state.is_finished()]
    ranked = sorted(finished, key=lambda t: (t.values is None, t.values[0] if t.values else math.inf, t.number))
    complete = [t for t in ranked if t.state == optuna.trial.TrialState.COMPLETE]
    front = {t.number for t in study.best_trials} if complete else set()
    table = _trials_table(ranked)
    with fsutil.atomic_path(out / TRIALS) as tmp, open(tmp, "w", newline="") as stream:
        csv.writer(stream).writerows(table)
    _keep_checkpoints(study, out, complete, front)
    if complete:
        best = complete[0]
        full_run = {**best.user_attrs["config"], "num_epochs": Config.num_epochs, "patience": Config.patience}
        fsutil.write_json(out / BEST, full_run)  # `bot train DATA --config best.json`
    _print_best(table, front, f"best trials of {out} (Pareto front: *)", console)
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in finished)
    saved = f", saving about {pruning_saved(finished) / 3600:.1f} h of training" if pruned else ""
    summary = f"{len(finished)} trials: {len(complete)} complete, {pruned} pruned{saved}; {out / TRIALS}"
    console.print(summary, soft_wrap=True)
    _plots(study, out, objective)


def _trials_table(ranked: list[optuna.trial.FrozenTrial]) -> list[list]:
    """trials.csv: a header, then a row per finished trial in rank order (a pruned trial's best is its
    lowest validation loss before it stopped)."""
    names = sorted({name for t in ranked for name in t.params})
    header = ["rank", "trial", "state", *names, "best_val_loss", "epochs_run", "pruned", "seconds_per_epoch",
              "parameters"]  # fmt: skip
    rows = []
    for rank, t in enumerate(ranked, 1):
        attrs = t.user_attrs
        losses = (v for k, v in attrs.items() if k.startswith("val_loss_") and math.isfinite(v))
        val = t.values[0] if t.values else min(losses, default=math.nan)
        rows.append(
            [rank, t.number, t.state.name.lower(), *(t.params.get(n, "") for n in names), f"{val:.4f}",
             attrs.get("epochs_run", ""), t.state == optuna.trial.TrialState.PRUNED,
             f"{attrs.get('seconds_per_epoch', math.nan):.1f}", attrs.get("parameters", "")]
        )  # fmt: skip
    return [header, *rows]


def _keep_checkpoints(study: optuna.Study, out: Path, complete: list, front: set[int]) -> None:
    """Delete the trial checkpoints not on the Pareto front nor among the KEEP best; a trial running, or
    queued to run again, keeps its folder."""
    keep = {trial_folder(t) for t in complete[:KEEP] + [t for t in complete if t.number in front]}
    keep |= {trial_folder(t) for t in study.trials if not t.state.is_finished()}
    for folder in (out / "trials").glob("*") if (out / "trials").is_dir() else ():
        if folder.is_dir() and folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)


def _print_best(table: list[list], front: set[int], title: str, console: Console) -> None:
    """The best 10 rows of trials.csv as a table, the front's trials starred."""
    from rich.measure import Measurement
    from rich.table import Table

    header, rows = table[0], table[1:]
    names = header[3 : header.index("best_val_loss")]
    shown = Table(title=title)
    for name in ("rank", "trial", "state", "val_loss", "parameters", "s/epoch", *names):
        shown.add_column(name, justify="right")
    for row in rows[:10]:
        cell = dict(zip(header, row, strict=True))
        mark = "*" if cell["trial"] in front else ""
        shown.add_row(
            str(cell["rank"]), f"{cell['trial']}{mark}", cell["state"], cell["best_val_loss"],
            f"{cell['parameters']:,}" if cell["parameters"] != "" else "", cell["seconds_per_epoch"],
            *(f"{cell[n]:.3g}" if isinstance(cell[n], float) else str(cell[n]) for n in names),
        )  # fmt: skip
    # A log file is not a terminal: rich would squeeze the table into 80 columns of "…"; print it whole.
    width = console.width
    if not console.is_terminal:
        console.width = max(width, Measurement.get(console, console.options.update_width(1000), shown).maximum)
    console.print(shown)
    console.width = width


def pruning_saved(trials: list[optuna.trial.FrozenTrial]) -> float:
    """Seconds of training pruning saved: each pruned trial's epochs left, at its own seconds per epoch."""
    needed = {"config", "epochs_run", "seconds_per_epoch"}
    return sum(
        (t.user_attrs["config"]["num_epochs"] - t.user_attrs["epochs_run"]) * t.user_attrs["seconds_per_epoch"]
        for t in trials
        if t.state == optuna.trial.TrialState.PRUNED and needed <= t.user_attrs.keys()
    )


def epochs_in(folder: Path) -> int:
    """Whole epochs a trial's checkpoint folder has trained."""
    return len(checkpoint.read_history(folder)) if (folder / checkpoint.HISTORY).is_file() else 0


def trial_folder(trial: optuna.trial.FrozenTrial) -> str:
    """A trial's checkpoint folder name: a killed trial run again goes on in the killed one's folder."""
    killed = Retry.retried_trial_number(trial)
    return trial.user_attrs.get("folder") or f"{trial.number if killed is None else killed:04d}"


def _plots(study: optuna.Study, out: Path, objective: Objective) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    target = (lambda t: t.values[0]) if objective == "both" else None
    drawings: dict[str, Callable] = {
        "history.png": lambda: plots.plot_optimization_history(study, target=target, target_name="val_loss"),
        "importances.png": lambda: plots.plot_param_importances(study, target=target, target_name="val_loss"),
    }
    if objective == "both":
        drawings["pareto.png"] = lambda: plots.plot_pareto_front(study, target_names=["val_loss", "parameters"])
    for name, draw in drawings.items():
        try:
            with warnings.catch_warnings():  # optuna marks its matplotlib plots experimental, and says so each time
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                warnings.simplefilter("ignore", UserWarning)
                axes = draw()
        except (ValueError, RuntimeError, ZeroDivisionError):
            continue  # too few finished trials for this plot yet
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        with fsutil.atomic_path(out / name) as tmp:
            figure.savefig(tmp, dpi=100, bbox_inches="tight")
        plt.close(figure)
