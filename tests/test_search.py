"""`bot search` on tiny data: it runs, stops bad trials early, ranks, resumes, hands its best to `bot train`."""

import csv
import io
import json
import math
import re
import time

import keras
import optuna
import pytest
from rich.console import Console
from typer.testing import CliRunner

from twitterbot.cli.app import app
from twitterbot.config import Config, SearchSettings
from twitterbot.corpus.datafolder import open_data
from twitterbot.errors import BotError
from twitterbot.search import study as search_module
from twitterbot.search.pruning import EpochCost, MedianStop
from twitterbot.search.report import pruning_saved
from twitterbot.search.space import load_space
from twitterbot.search.study import search
from twitterbot.training.lstm import parameters
from twitterbot.training.train import train

TINY_SPACE = """
rnn_size = { low = 8, high = 32, log = true }
embedding_size = { choices = [4, 8] }
batch_size = { choices = [4] }
seq_len = { choices = [16] }
learning_rate = { low = 0.001, high = 0.03, log = true }
drop_rate = { low = 0.0, high = 0.1 }
"""


@pytest.fixture()
def space(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text(TINY_SPACE)
    return path


def rows(folder):
    with open(folder / "trials.csv", newline="") as stream:
        return list(csv.DictReader(stream))


def test_a_tiny_search_runs_ranks_resumes_and_its_best_trains(data_folder, space, tmp_path):
    out = tmp_path / "s"
    settings = SearchSettings(trials=2, epochs=1, seed=1)
    search(data_folder, out, settings, space)
    first = rows(out)
    assert [int(r["rank"]) for r in first] == [1, 2] and {r["state"] for r in first} <= {"complete", "pruned"}
    losses = [float(r["best_val_loss"]) for r in first]
    assert losses == sorted(losses) and all(math.isfinite(v) for v in losses)
    assert {"rnn_size", "learning_rate", "parameters", "seconds_per_epoch", "epochs_run", "pruned"} <= set(first[0])
    trained = Config.load(out / "trials" / f"{int(first[0]['trial']):04d}" / "config.json")
    assert int(first[0]["parameters"]) == parameters(trained)  # embedding and softmax counted
    with pytest.raises(BotError, match="already exists"):
        search(data_folder, out, settings, space)  # an existing search is not replaced by accident
    log = io.StringIO()  # a log file: no terminal, 80 columns by default
    study = search(
        data_folder, out, SearchSettings(trials=3, epochs=1, seed=1), space, resume=True, console=Console(file=log)
    )
    assert len(study.trials) == 3 and len(rows(out)) == 3  # one more, the first two kept
    assert "learning_rate" in log.getvalue() and "…" not in log.getvalue()  # the table whole, not squeezed
    assert (out / "history.png").is_file() and (out / "pareto.png").is_file()
    best = json.loads((out / "best.json").read_text())
    assert best["rnn_size"] == int(rows(out)[0]["rnn_size"]) or rows(out)[0]["state"] != "complete"
    kept = sorted(p.name for p in (out / "trials").iterdir())
    assert 1 <= len(kept) <= 3
    result = CliRunner().invoke(
        app, ["train", str(data_folder), "--out", str(tmp_path / "full"), "--config", str(out / "best.json"),
              "--num-epochs", "1"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    trained = Config.load(tmp_path / "full" / "config.json")
    assert trained.rnn_size == best["rnn_size"] and trained.num_epochs == 1


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # the test asks for a trial by hand, as a worker would
def test_a_killed_workers_trial_runs_again_on_resume(data_folder, space, tmp_path, monkeypatch):
    monkeypatch.setattr(search_module, "HEARTBEAT", 1)
    out = tmp_path / "s"
    settings = SearchSettings(trials=1, epochs=2, seed=2)
    search(data_folder, out, settings, space)
    storage = optuna.storages.RDBStorage(f"sqlite:///{out / 'study.db'}", heartbeat_interval=1, grace_period=3)
    study = optuna.load_study(study_name="search", storage=storage)
    killed = study.ask({"rnn_size": optuna.distributions.IntDistribution(8, 32, log=True)})
    storage.record_heartbeat(killed._trial_id)  # its worker beat once, then was killed mid-trial,
    config = Config.load(out / "trials" / "0000" / "config.json").replace(rnn_size=killed.params["rnn_size"])
    train(
        out / "data" if (out / "data").is_dir() else data_folder, out / "trials" / "0001", config.replace(num_epochs=1)
    )
    time.sleep(4)  # after one epoch of two
    study = search(data_folder, out, SearchSettings(trials=2, epochs=2, seed=2), space, resume=True)
    states = [t.state.name for t in study.trials]
    assert states[:2] == ["COMPLETE", "FAIL"] and states[2] in {"COMPLETE", "PRUNED"} and len(states) == 3
    again = study.trials[2]
    assert again.params["rnn_size"] == killed.params["rnn_size"]  # the same draw, run again
    assert again.user_attrs["folder"] == "0001" and again.user_attrs["epochs_run"] == 2
    assert "val_loss_1" in again.user_attrs and "val_loss_0" not in again.user_attrs  # went on from epoch 2


def test_ctrl_c_mid_trial_runs_that_trial_again_on_resume(data_folder, space, tmp_path, monkeypatch):
    class CtrlC(keras.callbacks.Callback):  # pressed after the first epoch (its state saved)
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    real_train = search_module.train
    monkeypatch.setattr(
        search_module, "train", lambda *args, extra_callbacks=(), **kwargs: real_train(
            *args, extra_callbacks=[*extra_callbacks, CtrlC()], **kwargs)
    )  # fmt: skip
    out = tmp_path / "s"
    console = Console(record=True, width=200)
    with pytest.raises(KeyboardInterrupt):
        search(data_folder, out, SearchSettings(trials=1, epochs=2, seed=2), space, console=console)
    assert "search stopped in trial 0: the same command with --resume runs it again" in console.export_text()
    monkeypatch.undo()
    study = search(data_folder, out, SearchSettings(trials=1, epochs=2, seed=2), space, resume=True)
    stopped, again = study.trials
    assert stopped.state.name == "FAIL" and again.state.name in {"COMPLETE", "PRUNED"}  # the 1 trial asked for
    assert again.params == stopped.params and again.user_attrs["folder"] == "0000"
    assert again.user_attrs["epochs_run"] == 2
    epochs_trained = re.findall(r"^epoch (\d)/2  loss", (out / "trials.log").read_text(), flags=re.MULTILINE)
    assert epochs_trained == ["1", "2"]  # the second run went on from epoch 2; epoch 1 was not trained again


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # retry bookkeeping, stable since v3
def test_a_trial_killed_twice_counts_once_and_runs_a_third_time():
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage)
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=search_module.RUNS_AFTER_KILL)
    first = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    for _ in range(2):  # killed, queued again, killed again
        storage.set_trial_state_values(first._trial_id, optuna.trial.TrialState.FAIL)
        retry(study, study.trials[-1])
        first = study.ask()
    assert [t.state.name for t in study.trials] == ["FAIL", "FAIL", "RUNNING"]
    assert study.trials[2].params == study.trials[0].params
    study.tell(first, 0.5)
    assert search_module._counted(study) == 1


def test_a_resumed_search_does_not_draw_its_first_trials_again():
    space = {"x": optuna.distributions.FloatDistribution(0, 1), "n": optuna.distributions.IntDistribution(1, 1000)}
    study = optuna.create_study()
    for _ in range(2):  # one process: two trials; the next process (a resume): two more
        study.sampler = search_module.sampler(0, study, shared=False)
        study.optimize(lambda trial: trial.suggest_float("x", 0, 1) + trial.suggest_int("n", 1, 1000) * 0, n_trials=2)
    draws = [tuple(t.params[name] for name in space) for t in study.trials]
    assert len(set(draws)) == 4, draws


def test_pruning_saved_counts_each_pruned_trials_epochs_left_at_its_speed():
    def finished(state, epochs_run, seconds):
        attrs = {"config": {"num_epochs": 3}, "epochs_run": epochs_run, "seconds_per_epoch": seconds}
        values = None if state != optuna.trial.TrialState.COMPLETE else [1.0]
        return optuna.trial.create_trial(state=state, values=values, user_attrs=attrs)

    trials = [
        finished(optuna.trial.TrialState.PRUNED, 1, 100.0),  # 2 epochs left: 200 s
        finished(optuna.trial.TrialState.PRUNED, 2, 30.0),  # 1 left: 30 s
        finished(optuna.trial.TrialState.COMPLETE, 3, 500.0),  # ran to the end: nothing saved
    ]
    assert pruning_saved(trials) == 230.0


def test_a_pause_mid_epoch_does_not_count_in_seconds_per_epoch(data_folder, tiny_config, tmp_path):
    class Pause(keras.callbacks.Callback):  # a worker stopped (kill -STOP) for a while mid-epoch
        def on_train_batch_end(self, batch, logs=None):
            if batch == 3:
                time.sleep(4.0)

    steps = len(open_data(data_folder).batches("train", tiny_config.batch_size, tiny_config.seq_len))
    cost = EpochCost(steps)
    started = time.perf_counter()
    train(data_folder, tmp_path / "t", tiny_config.replace(num_epochs=1), extra_callbacks=[Pause(), cost])
    assert time.perf_counter() - started > 4.0
    assert len(cost.batches) == steps and len(cost.validations) == 1  # fit's validation is timed too
    assert 0 < cost.seconds < 4.0


def test_a_trial_that_does_not_learn_stops_halfway_through_its_first_epoch(data_folder, tmp_path):
    space = tmp_path / "sgd.toml"  # plain SGD at a rate far too small: the loss stays at the uniform guess
    slow = TINY_SPACE.replace("low = 0.001, high = 0.03", "low = 1e-7, high = 2e-7")
    space.write_text(slow + 'optimizer = { choices = ["sgd"] }\n')
    console = Console(record=True, width=200)
    study = search(data_folder, tmp_path / "s", SearchSettings(trials=1, epochs=2), space, console=console)
    (trial,) = study.trials
    assert trial.state.name == "PRUNED" and trial.user_attrs["pruned_at_epoch"] == 0
    assert re.search(r"trial 0: stopped early \(loss [\d.]+ halfway through epoch 1", console.export_text())
    assert 0.4 <= trial.user_attrs["epochs_run"] <= 0.6 and "val_loss_0" not in trial.user_attrs
    assert pruning_saved([trial]) == pytest.approx(1.5 * trial.user_attrs["seconds_per_epoch"], rel=0.1)


def test_a_failed_trial_is_recorded_and_the_search_goes_on(data_folder, tmp_path):
    space = tmp_path / "big.toml"  # batches larger than the validation split: every draw fails at once
    space.write_text(TINY_SPACE.replace("batch_size = { choices = [4] }", "batch_size = { choices = [4096] }"))
    console = Console(record=True, width=200)
    study = search(data_folder, tmp_path / "s", SearchSettings(trials=2), space, console=console)
    assert [t.state.name for t in study.trials] == ["FAIL", "FAIL"]
    assert [r["state"] for r in rows(tmp_path / "s")] == ["fail", "fail"]
    printed = console.export_text()
    assert printed.count("failed: ") == 2 and "fewer than one batch needs" in printed and "Traceback" not in printed


def test_a_trial_stopped_in_an_epoch_a_killed_run_began_counts_both_runs_batches():
    cost = EpochCost(steps=10)
    cost.set_params({"steps": 6, "epochs": 3})  # the rest of an epoch: a killed run trained its first 4 batches
    cost.on_epoch_begin(0)
    for batch in range(3):
        cost.on_train_batch_end(batch)
    assert cost.in_epoch == 7  # epochs run: 0.7, and pruning saved the other 2.3


def test_a_trial_worse_than_the_median_stops_early_but_not_after_its_last_epoch(tmp_path):
    study = optuna.create_study(directions=["minimize", "minimize"])
    for loss in (1.0, 1.2):
        trial = study.ask()
        trial.set_user_attr("val_loss_0", loss)
        trial.set_user_attr("val_loss_1", loss)
        study.tell(trial, (loss, 10))

    def stop(trial):  # a trial of 2 epochs, resumed into its first: fit's own count is 1 then
        callback = MedianStop(trial, epochs=2)
        callback.set_params({"epochs": 1})
        return callback

    stop(study.ask()).on_epoch_end(0, {"val_loss": 1.05})  # under the median (1.1): goes on
    with pytest.raises(optuna.TrialPruned):
        stop(study.ask()).on_epoch_end(0, {"val_loss": 1.5})
    with pytest.raises(optuna.TrialPruned):  # a NaN loss is never below the median
        stop(study.ask()).on_epoch_end(0, {"val_loss": float("nan")})
    stop(study.ask()).on_epoch_end(1, {"val_loss": 1.5})  # the last epoch: the trial is complete, not pruned


def test_bad_spaces_and_settings_are_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("vocab_size = { low = 1, high = 2 }\n")
    with pytest.raises(BotError, match="'vocab_size' is not a setting to search"):
        load_space(bad)
    bad.write_text("rnn_size = 5\n")
    with pytest.raises(BotError, match="rnn_size needs low and high, or choices"):
        load_space(bad)
    bad.write_text("rnn_size = {")
    with pytest.raises(BotError, match="not a readable TOML search space"):
        load_space(bad)
    for text, problem in [  # issue 28: each failed only once a trial drew from it
        ("rnn_size = { low = 256, high = 64 }", "rnn_size: low 256 is above high 64"),
        ("optimizer = { choices = [] }", "optimizer: choices must be a non-empty list"),
        ("learning_rate = { low = 0, high = 0.01, log = true }", "learning_rate: a log range needs low above 0"),
        ('rnn_size = { low = "a", high = 64 }', "rnn_size: low and high must be finite numbers"),
        ("drop_rate = { low = 0.0, high = inf }", "drop_rate: low and high must be finite numbers"),
    ]:
        bad.write_text(text + "\n")
        with pytest.raises(BotError, match=problem):
            load_space(bad)
    with pytest.raises(BotError, match="--subset must be at least"):
        SearchSettings(subset=10)


@pytest.fixture()
def postgres(tmp_path):
    """A PostgreSQL server of its own (Debian's, installed by scripts/install-test-deps.sh) on 127.0.0.1,
    run as the postgres user (the server refuses root), trust authentication, removed afterwards."""
    import glob
    import os
    import shutil
    import socket
    import subprocess
    import tempfile
    from pathlib import Path

    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries or shutil.which("runuser") is None:
        pytest.skip("Debian's postgresql is not installed (scripts/install-test-deps.sh installs it)")
    bin_dir = os.path.dirname(binaries[-1])
    root = Path(tempfile.mkdtemp(prefix="twitterbot-pg-"))  # pytest's tmp_path is private to root
    shutil.chown(root, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def as_postgres(*args):
        return subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True, timeout=120)

    made = as_postgres(f"{bin_dir}/initdb", "-D", str(root / "data"), "--auth=trust", "-U", "postgres")
    assert made.returncode == 0, made.stderr
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    started = as_postgres(  # its log to a file: the server must not hold our pipes open
        f"{bin_dir}/pg_ctl", "-D", str(root / "data"), "-l", str(root / "log"), "-o", options, "-w", "start"
    )
    assert started.returncode == 0, started.stderr
    try:
        created = as_postgres(f"{bin_dir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "search")
        assert created.returncode == 0, created.stderr
        yield f"postgresql://postgres@127.0.0.1:{port}/search"
    finally:
        as_postgres(f"{bin_dir}/pg_ctl", "-D", str(root / "data"), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_two_workers_share_one_study_in_postgresql(data_folder, space, tmp_path, postgres):
    import subprocess
    import sys

    optuna.create_study(study_name="search", storage=postgres, directions=["minimize", "minimize"])
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "twitterbot.cli",
                "search",
                str(data_folder),
                "--out",
                str(tmp_path / f"w{i}"),
                "--storage",
                postgres,
                "--space",
                str(space),
                "--trials",
                "2",
                "--epochs-per-trial",
                "1",
                "--seed",
                str(i),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(2)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-2000:]
    trials = optuna.load_study(study_name="search", storage=postgres).trials
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]  # every trial recorded, no number twice
    assert all(t.state.is_finished() for t in trials)
    assert "postgres@127.0.0.1" in postgres and "…" not in postgres


@pytest.mark.parametrize(
    "storage",
    [
        "mysql://bob:hunter2@127.0.0.1:1/db",  # no driver installed
        "postgresql://:hunter2@127.0.0.1:1/db",  # nothing listening
        "postgresql://bob@127.0.0.1:1/db?password=hunter2",
        "postgresql://bob:hunter%32@127.0.0.1:1/db",  # quoted: "hunter2" once decoded
    ],
)
def test_a_storage_password_is_never_shown(data_folder, space, tmp_path, storage):
    with pytest.raises(BotError) as raised:
        search(data_folder, tmp_path / "s", SearchSettings(trials=1, storage=storage), space)
    message = str(raised.value)
    assert message.startswith("cannot open the study in") and "\n" not in message
    assert "hunter2" not in message and "hunter%32" not in message, message


def test_a_corrupt_study_is_one_line_on_resume(data_folder, space, tmp_path):
    out = tmp_path / "s"
    out.mkdir()
    (out / "study.db").write_bytes(b"not a database, " * 100)
    with pytest.raises(BotError, match=r"^cannot open the study in .*study.db \(DatabaseError") as raised:
        search(data_folder, out, SearchSettings(trials=1), space, resume=True)
    assert "\n" not in str(raised.value)
