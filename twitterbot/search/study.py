"""`bot search`: hyperparameter search with optuna, for the lowest validation loss and the cheapest model.

Two objectives by default, best validation loss and the model's per-character step cost (its
parameter count, what the browser's time per character follows): optuna's multi-objective TPE gives the
Pareto front (NSGA-II's first generation, 50 random draws, is more than a 20-trial budget). `--objective
loss` runs the single-objective TPE search the reference project ran.
Trials stop early when their validation loss after an epoch is worse than the median of the finished
trials' at that epoch, or when halfway through the first epoch their loss is still the uniform guess's.
The study lives in SQLite in the search folder (`--resume` goes on) or in any optuna storage URL
(`--storage postgresql://…`: several machines on one study). Running trials beat a heartbeat: one
whose worker was killed is marked failed and run again (up to 5 times, going on from its last saved
state) by whichever worker is next; one whose worker was stopped (Ctrl-C, `kill`) is queued again at once.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import re
import shutil
import statistics
import time
import tomllib
import urllib.parse
import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

import h5py
import keras
import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry
from rich.console import Console

from twitterbot import fsutil
from twitterbot.config import Config
from twitterbot.corpus.datafolder import DATA, SETTINGS, SPLITS, VOCAB, DataFolder, open_data
from twitterbot.errors import BotError
from twitterbot.training import checkpoint
from twitterbot.training.lstm import parameters
from twitterbot.training.train import train

DEFAULT_SPACE = Path(__file__).parent / "space.toml"
MAX_SPACE_BYTES = 1 << 20  # a space names a dozen settings
STUDY = "study.db"
TRIALS = "trials.csv"
BEST = "best.json"
KEEP = 5  # trial checkpoints kept besides the Pareto front: the best by loss
HEARTBEAT = 60  # seconds between a running trial's signs of life; 3 missed and it counts as killed
RUNS_AFTER_KILL = 5  # a killed trial is run again up to this many times, each going on from its saved state
SAVE_EVERY = 200  # batches: a killed trial's second run goes on from its last saved state
LEARNING = 0.98  # a trial learns once its loss is below this share of the uniform guess's
Objective = Literal["both", "loss"]


def is_search(path: Path) -> bool:
    """Whether a folder is one `bot search` wrote (the only kind its --force replaces)."""
    return (Path(path) / STUDY).is_file() or (Path(path) / TRIALS).is_file()


def load_space(path: Path) -> dict[str, dict]:
    """A search space: Config field → {low, high[, log]} or {choices}, checked."""
    text = fsutil.read_text(Path(path), MAX_SPACE_BYTES, "a TOML search space")
    try:
        space = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as error:
        raise BotError(f"{path}: not a readable TOML search space ({error})") from error
    known = {field.name for field in fields(Config)} - {"vocab_size", "format_version", "num_epochs", "patience"}
    for name, spec in space.items():
        if name not in known:
            raise BotError(f"{path}: {name!r} is not a setting to search (one of {', '.join(sorted(known))})")
        if not isinstance(spec, dict) or not ({"low", "high"} <= set(spec) or "choices" in spec):
            raise BotError(f"{path}: {name} needs low and high, or choices")
        problem = _range_problem(spec)
        if problem:
            raise BotError(f"{path}: {name}: {problem}")
    return space


def _range_problem(spec: dict) -> str | None:
    """Why a setting's range cannot be drawn from (optuna would fail mid-search), or None."""
    if "choices" in spec:
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            return "choices must be a non-empty list"
        return None
    low, high = spec["low"], spec["high"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (low, high)):
        return "low and high must be finite numbers"
    if low > high:
        return f"low {low} is above high {high}"
    if not isinstance(spec.get("log", False), bool):
        return "log must be true or false"
    if spec.get("log") and low <= 0:
        return f"a log range needs low above 0 (got {low})"
    return None


def suggest(trial: optuna.Trial, space: dict[str, dict], base: Config) -> Config:
    """The trial's settings: the space's draws over `base`."""
    values = {}
    for name, spec in space.items():
        if "choices" in spec:
            values[name] = trial.suggest_categorical(name, spec["choices"])
        elif isinstance(spec["low"], int) and isinstance(spec["high"], int):
            values[name] = trial.suggest_int(name, spec["low"], spec["high"], log=spec.get("log", False))
        else:
            values[name] = trial.suggest_float(name, spec["low"], spec["high"], log=spec.get("log", False))
    return base.replace(**values)


class MedianStop(keras.callbacks.Callback):
    """Stop a trial whose validation loss after an epoch is worse than the median of the finished trials'
    at that epoch (optuna's pruners do not serve multi-objective studies; this rule serves both)."""

    def __init__(self, trial: optuna.Trial, epochs: int, warmup: int = 2):
        super().__init__()
        self.trial, self.epochs, self.warmup = trial, epochs, warmup

    def on_epoch_end(self, epoch, logs=None):
        loss = float((logs or {}).get("val_loss", math.nan))
        self.trial.set_user_attr(f"val_loss_{epoch}", loss)
        finished = self.trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        earlier = [t.user_attrs[f"val_loss_{epoch}"] for t in finished if f"val_loss_{epoch}" in t.user_attrs]
        if len(earlier) < self.warmup or epoch + 1 >= self.epochs:  # the last: stopping saves nothing
            return
        median = statistics.median(earlier)
        if not loss <= median:
            self.trial.set_user_attr("pruned_at_epoch", epoch)
            raise optuna.TrialPruned(f"val_loss {loss:.4f} after epoch {epoch + 1}, above the median {median:.4f}")


class EpochCost(keras.callbacks.Callback):
    """A trial's seconds per epoch with the machine to itself: its median batch time × the epoch's batches,
    plus its fastest validation. Wall time counted whatever else ran: a worker paused for 15 minutes, or
    a test suite sharing the cores, made a trial look several times slower than it is."""

    def __init__(self, steps: int):
        super().__init__()
        self.steps, self.batches, self.validations = steps, [], []
        self.in_epoch = 0  # batches of an epoch not finished (a trial stopped mid-epoch)

    def on_epoch_begin(self, epoch, logs=None):  # an epoch a killed run began: its batches are done already
        self.mark, self.in_epoch = time.perf_counter(), self.steps - self.params.get("steps", self.steps)

    def on_train_batch_end(self, batch, logs=None):  # after the progress bar read the loss: the step is done
        now = time.perf_counter()
        self.batches.append(now - self.mark)
        self.mark, self.in_epoch = now, self.in_epoch + 1

    def on_epoch_end(self, epoch, logs=None):
        self.in_epoch = 0

    def on_test_begin(self, logs=None):
        self.tested = time.perf_counter()

    def on_test_end(self, logs=None):
        self.validations.append(time.perf_counter() - self.tested)

    @property
    def seconds(self) -> float | None:
        if not self.batches:
            return None
        return statistics.median(self.batches) * self.steps + min(self.validations, default=0.0)


class NotLearning(keras.callbacks.Callback):
    """Stop a trial whose loss is still at the uniform guess (ln V nats/char) halfway through its first
    epoch: plain SGD at a small rate sat there for all 3 epochs, and a 2 × 905 draw took 36 minutes to
    show the median rule what half an epoch shows."""

    def __init__(self, trial: optuna.Trial, vocab_size: int):
        super().__init__()
        self.trial, self.guess = trial, math.log(vocab_size)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        # halfway through what this run trains of epoch 1: all of it, or the rest after a killed run
        if self.epoch == 0 and batch + 1 == max(self.params["steps"] // 2, 1):
            loss = float((logs or {}).get("loss", math.nan))
            if not loss < LEARNING * self.guess:
                self.trial.set_user_attr("pruned_at_epoch", 0)
                raise optuna.TrialPruned(
                    f"loss {loss:.4f} halfway through epoch 1: the uniform guess is {self.guess:.4f}"
                )


@dataclass(frozen=True)
class SearchSettings:
    trials: int = 20
    epochs: int = 3  # per trial
    timeout: float | None = None  # seconds for the whole search
    subset: int | None = None  # train on the first N characters
    seed: int = 0
    objective: Objective = "both"
    storage: str | None = None  # default: SQLite in the search folder

    def __post_init__(self) -> None:
        if self.trials < 1 or self.epochs < 1:
            raise BotError(f"--trials and --epochs-per-trial must be at least 1 (got {self.trials}, {self.epochs})")
        if self.subset is not None and self.subset < 1000:
            raise BotError(f"--subset must be at least 1,000 characters (got {self.subset})")
        if self.timeout is not None and not self.timeout > 0:
            raise BotError(f"--timeout must be positive seconds (got {self.timeout})")


def search(
    data_path: Path,
    out: Path,
    settings: SearchSettings,
    space_path: Path = DEFAULT_SPACE,
    resume: bool = False,
    force: bool = False,
    console: Console | None = None,
) -> optuna.Study:
    """Run (or go on with) a search; write trials.csv, best.json and plots into `out`. One process at a
    time per folder (a lock file beside it): workers sharing a study each have their own folder."""
    with fsutil.lock(Path(out), f"search folder {out}"):
        return _search(data_path, Path(out), settings, space_path, resume, force, console or Console(stderr=True))


def _search(
    data_path: Path,
    out: Path,
    settings: SearchSettings,
    space_path: Path,
    resume: bool,
    force: bool,
    console: Console,
) -> optuna.Study:
    space = load_space(space_path)
    out = Path(out)
    data = open_data(data_path)
    if not resume:
        fsutil.refuse_existing(out, force, "search folder", is_search, inputs=[data.path])
        if out.exists():
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    train_on = _subset(data, out / "data", settings.subset) if settings.subset else data.path
    url = settings.storage or f"sqlite:///{(out / STUDY).resolve()}"
    directions = ["minimize"] if settings.objective == "loss" else ["minimize", "minimize"]
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed trial's warning has a traceback: _outcome says it
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats: stable since v2
    try:
        storage = optuna.storages.RDBStorage(
            url,
            heartbeat_interval=HEARTBEAT,
            grace_period=3 * HEARTBEAT,
            heartbeat_stale_trial_callback=Retry(max_retry=RUNS_AFTER_KILL),
        )
        study = optuna.create_study(study_name="search", storage=storage, directions=directions, load_if_exists=True)
        optuna.storages.fail_stale_trials(study)
        study.sampler = sampler(settings.seed, study, shared=settings.storage is not None)
    except Exception as error:  # noqa: BLE001 - SQLAlchemy and drivers raise their own kinds; each is one line here
        where = _shown(settings.storage) if settings.storage else out / STUDY
        reason = _masked(" ".join(str(error).split())[:200], settings.storage or "")
        raise BotError(f"cannot open the study in {where} ({type(error).__name__}: {reason})") from None
    train_data = open_data(train_on)
    # the vocabulary in: a model's embedding and softmax are a large share of a small one's parameters
    base = Config(
        seed=settings.seed, num_epochs=settings.epochs, patience=settings.epochs, vocab_size=train_data.vocab.size
    )
    done = _counted(study)
    left = max(settings.trials - done, 0)
    console.print(f"search: {done} trials done, {left} to run; data {train_on}; storage {_shown(url)}")

    running: int | None = None  # the trial this worker has under way

    def objective(trial: optuna.Trial):
        nonlocal running
        running = trial.number
        try:
            return run(trial)
        except (optuna.TrialPruned, BotError) as stopped:
            trial.set_user_attr("why", str(stopped))
            raise

    def run(trial: optuna.Trial):
        config = suggest(trial, space, base)
        trial.set_user_attr("parameters", parameters(config))
        trial.set_user_attr("config", dataclasses.asdict(config))  # for best.json, wherever the trial ran
        (frozen,) = [t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number]
        folder = out / "trials" / _folder(frozen)
        trial.set_user_attr("folder", folder.name)
        again = folder.name != f"{trial.number:04d}" and bool(checkpoint.state_dirs(folder))
        steps = len(train_data.batches("train", config.batch_size, config.seq_len))
        cost = EpochCost(steps)
        stops = [MedianStop(trial, config.num_epochs), NotLearning(trial, config.vocab_size)]
        try:
            history = train(
                train_on, folder, config, restore=again, force=not again, console=quiet, save_every=SAVE_EVERY,
                extra_callbacks=[cost, *stops],
            )  # fmt: skip
        finally:  # pruned trials too: what pruning saved is counted from these
            trial.set_user_attr("epochs_run", round(_epochs_in(folder) + cost.in_epoch / steps, 2))
            if cost.seconds is not None:
                trial.set_user_attr("seconds_per_epoch", cost.seconds)
        losses = [row["val_loss"] for row in history if math.isfinite(row.get("val_loss", math.nan))]
        if not losses:
            raise BotError("no finite validation loss")
        return min(losses) if settings.objective == "loss" else (min(losses), parameters(config))

    if left:
        with open(out / "trials.log", "a", encoding="utf-8") as log:  # each trial's training lines
            quiet = Console(file=log, force_terminal=False)
            try:
                study.optimize(
                    objective, n_trials=left, timeout=settings.timeout, catch=(BotError,), gc_after_trial=True,
                    callbacks=[lambda study, trial: console.print(_outcome(trial))],
                )  # fmt: skip
            except KeyboardInterrupt:  # Ctrl-C, or SIGTERM: as for a killed worker, --resume goes on with it
                if running is not None:  # not while the first trial was still being drawn
                    _queue_again(study, running)
                    console.print(
                        f"search stopped in trial {running}: the same command with --resume runs it again "
                        "from its last saved state"
                    )
                raise
    report(study, out, settings.objective, console)
    return study


def sampler(seed: int, study: optuna.Study, shared: bool) -> optuna.samplers.TPESampler:
    """TPE seeded past the trials the study holds: with the seed alone, a resumed search drew its first
    trials again (the same seed gives the same random start-up draws). Workers sharing a study (`shared`)
    also mix in their process id, or two started together would draw alike."""
    return optuna.samplers.TPESampler(seed=seed + len(study.trials) + (os.getpid() if shared else 0))


def _outcome(trial: optuna.trial.FrozenTrial) -> str:
    """A finished trial in one line (optuna's own say it with a traceback)."""
    attrs = trial.user_attrs
    if trial.state == optuna.trial.TrialState.COMPLETE:
        return f"trial {trial.number}: val_loss {trial.values[0]:.4f}, {attrs['parameters']:,} parameters"
    if trial.state == optuna.trial.TrialState.PRUNED:
        return f"trial {trial.number}: stopped early ({attrs.get('why')}), {attrs.get('epochs_run')} epochs run"
    return f"trial {trial.number} failed: {attrs.get('why')}"


def _queue_again(study: optuna.Study, number: int) -> None:
    """Queue the trial a stopped worker had under way (optuna marked it failed) to run again from its saved
    state; it counted as done, and its draw was lost."""
    stopped = study.get_trials(deepcopy=False)[number]
    if stopped.state == optuna.trial.TrialState.FAIL:
        Retry(max_retry=RUNS_AFTER_KILL)(study, stopped)


def _counted(study: optuna.Study) -> int:
    """Finished trials that count against --trials: a killed trial that was queued again (and again) counts once."""
    retried = {number for t in study.get_trials(deepcopy=False) for number in Retry.retry_history(t)}
    return sum(t.state.is_finished() and t.number not in retried for t in study.get_trials(deepcopy=False))


def report(study: optuna.Study, out: Path, objective: Objective, console: Console) -> None:
    """trials.csv (ranked by validation loss), best.json, the best 10 as a table, and the plots; keep only
    the checkpoints of the Pareto front and the KEEP best."""
    from rich.measure import Measurement
    from rich.table import Table

    finished = [t for t in study.trials if t.state.is_finished()]
    ranked = sorted(finished, key=lambda t: (t.values is None, t.values[0] if t.values else math.inf, t.number))
    names = sorted({name for t in finished for name in t.params})
    columns = [
        "rank",
        "trial",
        "state",
        *names,
        "best_val_loss",
        "epochs_run",
        "pruned",
        "seconds_per_epoch",
        "parameters",
    ]
    rows = []
    for rank, t in enumerate(ranked, 1):
        attrs = t.user_attrs
        val = (
            t.values[0]
            if t.values
            else min((v for k, v in attrs.items() if k.startswith("val_loss_") and math.isfinite(v)), default=math.nan)
        )
        rows.append(
            [rank, t.number, t.state.name.lower(), *(t.params.get(n, "") for n in names), f"{val:.4f}",
             attrs.get("epochs_run", ""), t.state == optuna.trial.TrialState.PRUNED,
             f"{attrs.get('seconds_per_epoch', math.nan):.1f}", attrs.get("parameters", "")]
        )  # fmt: skip
    with fsutil.atomic_path(out / TRIALS) as tmp, open(tmp, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(columns)
        writer.writerows(rows)
    complete = [t for t in ranked if t.state == optuna.trial.TrialState.COMPLETE]
    front = {t.number for t in study.best_trials} if complete else set()
    keep = {_folder(t) for t in complete[:KEEP] + [t for t in complete if t.number in front]}
    keep |= {_folder(t) for t in study.trials if not t.state.is_finished()}  # running, or queued to run again
    for folder in (out / "trials").glob("*") if (out / "trials").is_dir() else ():
        if folder.is_dir() and folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)
    if complete:
        best = complete[0]
        full_run = {**best.user_attrs["config"], "num_epochs": Config.num_epochs, "patience": Config.patience}
        fsutil.write_json(out / BEST, full_run)  # `bot train DATA --config best.json`
    table = Table(title=f"best trials of {out} (Pareto front: *)")
    for name in ("rank", "trial", "state", "val_loss", "parameters", "s/epoch", *names):
        table.add_column(name, justify="right")
    for row in rows[:10]:
        cell = dict(zip(columns, row, strict=True))
        mark = "*" if cell["trial"] in front else ""
        table.add_row(
            str(cell["rank"]), f"{cell['trial']}{mark}", cell["state"], cell["best_val_loss"],
            f"{cell['parameters']:,}" if cell["parameters"] != "" else "", cell["seconds_per_epoch"],
            *(f"{cell[n]:.3g}" if isinstance(cell[n], float) else str(cell[n]) for n in names),
        )  # fmt: skip
    # A log file is not a terminal: rich would squeeze the table into 80 columns of "…"; print it whole.
    width = console.width
    if not console.is_terminal:
        console.width = max(width, Measurement.get(console, console.options.update_width(1000), table).maximum)
    console.print(table)
    console.width = width
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in finished)
    saved = f", saving about {pruning_saved(finished) / 3600:.1f} h of training" if pruned else ""
    summary = f"{len(finished)} trials: {len(complete)} complete, {pruned} pruned{saved}; {out / TRIALS}"
    console.print(summary, soft_wrap=True)
    _plots(study, out, objective)


def pruning_saved(trials: list[optuna.trial.FrozenTrial]) -> float:
    """Seconds of training pruning saved: each pruned trial's epochs left, at its own seconds per epoch."""
    needed = {"config", "epochs_run", "seconds_per_epoch"}
    return sum(
        (t.user_attrs["config"]["num_epochs"] - t.user_attrs["epochs_run"]) * t.user_attrs["seconds_per_epoch"]
        for t in trials
        if t.state == optuna.trial.TrialState.PRUNED and needed <= t.user_attrs.keys()
    )


def _epochs_in(folder: Path) -> int:
    """Whole epochs a trial's checkpoint folder has trained."""
    return len(checkpoint.read_history(folder)) if (folder / checkpoint.HISTORY).is_file() else 0


def _folder(trial: optuna.trial.FrozenTrial) -> str:
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


def _subset(data: DataFolder, folder: Path, chars: int) -> Path:
    """A data folder of the first `chars` training characters (validation: a tenth of that, at least 10k)."""
    if (folder / DATA).is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(data.path / VOCAB, folder / VOCAB)
    shutil.copyfile(data.path / SETTINGS, folder / SETTINGS)
    sizes = {"train": chars, "validate": max(chars // 10, 10_000), "test": max(chars // 10, 10_000)}
    with h5py.File(data.h5_path, "r") as source, fsutil.atomic_path(folder / DATA) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs.update(source.attrs)
        for name in SPLITS:
            h5.create_dataset(name, data=source[name][: sizes[name]])
    return folder


def _shown(storage: str) -> str:
    """A storage URL without its password, in any form: user:pw@, :pw@, ?password=…."""
    storage = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:…@", storage)
    return re.sub(r"([?&](?:password|passwd|pwd)=)[^&]*", r"\1…", storage, flags=re.IGNORECASE)


def _masked(text: str, storage: str) -> str:
    """`text` (a driver's error, which may quote the URL) with the storage's password nowhere in it."""
    parts = urllib.parse.urlsplit(storage)
    secrets = [parts.password or ""] + [
        value for key, value in urllib.parse.parse_qsl(parts.query) if key.lower() in ("password", "passwd", "pwd")
    ]
    forms = {form for secret in secrets if secret for form in (secret, urllib.parse.unquote(secret))}
    for secret in sorted(forms, key=len, reverse=True):
        text = text.replace(secret, "…")
    return _shown(text)
