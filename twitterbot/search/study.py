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

import dataclasses
import math
import os
import re
import shutil
import urllib.parse
import warnings
from pathlib import Path

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry
from rich.console import Console

from twitterbot import fsutil
from twitterbot.config import Config, SearchSettings
from twitterbot.corpus.datafolder import DataFolder, open_data, write_subset
from twitterbot.errors import BotError
from twitterbot.search.pruning import EpochCost, MedianStop, NotLearning
from twitterbot.search.report import TRIALS, epochs_in, report, trial_folder
from twitterbot.search.space import DEFAULT_SPACE, load_space, suggest
from twitterbot.training import runstate
from twitterbot.training.lstm import parameters
from twitterbot.training.train import train

STUDY = "study.db"
HEARTBEAT = 60  # seconds between a running trial's signs of life; 3 missed and it counts as killed
RUNS_AFTER_KILL = 5  # a killed trial is run again up to this many times, each going on from its saved state
SAVE_EVERY = 200  # batches: a killed trial's second run goes on from its last saved state


def is_search(path: Path) -> bool:
    """Whether a folder is one `bot search` wrote (the only kind its --force replaces)."""
    return (Path(path) / STUDY).is_file() or (Path(path) / TRIALS).is_file()


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
    data = open_data(data_path)
    if not resume:
        fsutil.refuse_existing(out, force, "search folder", is_search, inputs=[data.path])
        if out.exists():
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    train_on = write_subset(data, out / "data", settings.subset) if settings.subset else data.path
    study, url = _open_study(out, settings)
    done = _counted(study)
    left = max(settings.trials - done, 0)
    console.print(f"search: {done} trials done, {left} to run; data {train_on}; storage {_shown(url)}")
    if left:
        with open(out / "trials.log", "a", encoding="utf-8") as log:  # each trial's training lines
            trials = Trials(open_data(train_on), out, space, settings, Console(file=log, force_terminal=False))
            try:
                study.optimize(
                    trials, n_trials=left, timeout=settings.timeout, catch=(BotError,), gc_after_trial=True,
                    callbacks=[lambda study, trial: console.print(_outcome(trial))],
                )  # fmt: skip
            except KeyboardInterrupt:  # Ctrl-C, or SIGTERM: as for a killed worker, --resume goes on with it
                if trials.running is not None:  # not while the first trial was still being drawn
                    _queue_again(study, trials.running)
                    console.print(
                        f"search stopped in trial {trials.running}: the same command with --resume runs it again "
                        "from its last saved state"
                    )
                raise
    report(study, out, settings.objective, console)
    return study


def _open_study(out: Path, settings: SearchSettings) -> tuple[optuna.Study, str]:
    """The study (created, or the one the storage holds) with its sampler, and the storage's URL."""
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
    return study, url


class Trials:
    """The objective optuna calls: train one drawn configuration into its trial folder and return its
    best validation loss (and parameter count), stopped early by the pruning callbacks."""

    def __init__(self, data: DataFolder, out: Path, space: dict[str, dict], settings: SearchSettings, log: Console):
        self.data, self.out, self.space, self.settings, self.log = data, out, space, settings, log
        # the vocabulary in: a model's embedding and softmax are a large share of a small one's parameters
        self.base = Config(
            seed=settings.seed, num_epochs=settings.epochs, patience=settings.epochs, vocab_size=data.vocab.size
        )
        self.running: int | None = None  # the trial this worker has under way

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, int]:
        self.running = trial.number
        try:
            return self._run(trial)
        except (optuna.TrialPruned, BotError) as stopped:
            trial.set_user_attr("why", str(stopped))
            raise

    def _run(self, trial: optuna.Trial) -> float | tuple[float, int]:
        config = suggest(trial, self.space, self.base)
        trial.set_user_attr("parameters", parameters(config))
        trial.set_user_attr("config", dataclasses.asdict(config))  # for best.json, wherever the trial ran
        (frozen,) = [t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number]
        folder = self.out / "trials" / trial_folder(frozen)
        trial.set_user_attr("folder", folder.name)
        again = folder.name != f"{trial.number:04d}" and bool(runstate.state_dirs(folder))
        steps = len(self.data.batches("train", config.batch_size, config.seq_len))
        cost = EpochCost(steps)
        stops = [MedianStop(trial, config.num_epochs), NotLearning(trial, config.vocab_size)]
        try:
            history = train(
                self.data.path, folder, config, restore=again, force=not again, console=self.log,
                save_every=SAVE_EVERY, extra_callbacks=[cost, *stops],
            )  # fmt: skip
        finally:  # pruned trials too: what pruning saved is counted from these
            trial.set_user_attr("epochs_run", round(epochs_in(folder) + cost.in_epoch / steps, 2))
            if cost.seconds is not None:
                trial.set_user_attr("seconds_per_epoch", cost.seconds)
        losses = [row["val_loss"] for row in history if math.isfinite(row.get("val_loss", math.nan))]
        if not losses:
            raise BotError("no finite validation loss")
        return min(losses) if self.settings.objective == "loss" else (min(losses), parameters(config))


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
