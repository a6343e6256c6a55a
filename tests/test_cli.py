"""The `bot` command end to end, as a user runs it: real processes, real files."""

import json
import math
import os
import re
import subprocess
import sys

import pytest
from conftest import CLI_BACKEND

from twitterbot.config import BUNDLED

BUNDLED_LAYERS = json.loads((BUNDLED / "config.json").read_text())["num_layers"]  # fine-tuning's bound


def bot(*args, cwd, backend=CLI_BACKEND, check=True, env=None):
    env = {**os.environ, "KERAS_BACKEND": backend, **(env or {})}
    result = subprocess.run(
        [sys.executable, "-m", "twitterbot.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"bot {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result


TINY = [
    "--rnn-size",
    "32",
    "--embedding-size",
    "8",
    "--batch-size",
    "4",
    "--seq-len",
    "16",
    "--drop-rate",
    "0",
    "--learning-rate",
    "0.01",
]


def test_prepare_train_generate_evaluate(corpus_file, tmp_path):
    prepared = bot("prepare", corpus_file, "--out", "data/tiny", "--coverage", "1", cwd=tmp_path)
    assert "kept 400 tweets" in prepared.stdout
    trained = bot("train", "data/tiny", "--out", "checkpoints/tiny", *TINY, "--num-epochs", "2", cwd=tmp_path)
    assert "best val_loss" in trained.stdout
    assert "chars/s" in trained.stderr
    # stderr is a pipe here, as for a run in the background: progress comes as plain lines mid-epoch
    assert re.search(r"^epoch 1/2  batch \d+/\d+  loss \d\.\d{4}  [\d,]+ chars/s$", trained.stderr, re.M)
    generated = bot(
        "generate",
        "checkpoints/tiny",
        "-n",
        "5",
        "--temp",
        "0.8",
        "--max-len",
        "60",
        "--seed",
        "1",
        "--out",
        "samples.jsonl",
        "--no-filter",  # four phrases learned: its tweets are the corpus's, which the copy filters refuse
        cwd=tmp_path,
    )
    samples = [json.loads(line)["text"] for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 5 and all(1 <= len(s) <= 60 for s in samples)
    assert all(sample in generated.stdout for sample in samples)
    vocab = set(json.loads((tmp_path / "checkpoints/tiny/vocab.json").read_text())["chars"])
    assert all(set(sample) <= vocab for sample in samples)
    filtered = bot("generate", "checkpoints/tiny", "-n", "2", "--temp", "1.5", "--seed", "1", cwd=tmp_path)
    assert re.search(
        r"^2 of (\d+) candidates passed the filters \(\d+\.\d candidates a tweet\); rejected: ", filtered.stderr, re.M
    )
    evaluated = json.loads(bot("evaluate", "checkpoints/tiny", "data/tiny", "--json", cwd=tmp_path).stdout)
    assert evaluated["split"] == "test" and 0 < evaluated["loss"] < 0.6 * math.log(len(vocab) + 2)
    table = bot("evaluate", "checkpoints/tiny", "data/tiny", cwd=tmp_path).stdout
    assert "bits/char" in table and "perplexity" in table
    bot("prepare", corpus_file, "--vocab", "checkpoints/tiny", "--out", "data/me", cwd=tmp_path)
    finetune = ("finetune", "checkpoints/tiny", "data/me", "--out", "checkpoints/me", "--num-epochs", "1")
    tuned = bot(*finetune, "--patience", "5", "--min-delta", "0.003", cwd=tmp_path).stdout
    assert "base model" in tuned and "fine-tuned" in tuned
    assert (tmp_path / "checkpoints/me/model.weights.h5").is_file()
    config = json.loads((tmp_path / "checkpoints/me/config.json").read_text())
    assert (config["patience"], config["min_delta"]) == (5, 0.003)  # the base's were 3 and 0.01


def test_restore_takes_new_schedule_flags_and_refuses_model_changes(data_folder, tmp_path):
    from twitterbot.training.checkpoint import read_history

    bot("train", data_folder, "--out", "ck", *TINY, "--num-epochs", "1", cwd=tmp_path)
    resume = ("train", data_folder, "--out", "ck", "--restore")
    resumed = bot(*resume, "--num-epochs", "2", "--learning-rate", "0.003", "--min-delta", "0.001", cwd=tmp_path)
    assert "epoch 2/2" in resumed.stderr
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert (config["learning_rate"], config["min_delta"], config["rnn_size"]) == (0.01, 0.001, 32)  # initial rate
    assert [round(row["learning_rate"], 6) for row in read_history(tmp_path / "ck")] == [0.01, 0.003]
    refused = bot(*resume, "--num-epochs", "3", "--rnn-size", "64", cwd=tmp_path, check=False)
    assert refused.returncode == 1
    assert "--rnn-size cannot change when resuming (the run was saved with 32)" in refused.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["prepare", "missing.csv", "--out", "d"], "missing.csv: no such file or folder"),
        (["prepare", "bad.json", "--out", "d"], "bad.json:1: malformed JSON"),
        (["train", "nowhere", "--out", "c"], "nowhere: no such data folder"),
        (["generate", "."], "not a checkpoint, config.json is missing"),
        (["generate", "--temp", "0"], "--temp must be greater than 0"),
        (["train", "nowhere", "--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_errors_are_one_line(tmp_path, args, message):
    (tmp_path / "bad.json").write_text('[{"text": "a"}, {"text": ')
    result = bot(*args, cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error:") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_trains_on_jax_backend(data_folder, tmp_path):
    """The model and training path use keras.ops only, so the same code trains on JAX."""
    pytest.importorskip("jax")
    result = bot("train", data_folder, "--out", "ckpt", *TINY, "--num-epochs", "1", cwd=tmp_path, backend="jax")
    assert "training on jax" in result.stderr
    assert (tmp_path / "ckpt" / "model.weights.h5").is_file()
    generated = bot("generate", "ckpt", "-n", "2", "--max-len", "30", "--seed", "0", cwd=tmp_path, backend="jax")
    assert generated.stdout.strip()


def test_train_fits_its_batch_to_small_data(data_folder, tmp_path):
    """Issue 29: one account's tweets stopped at "fewer than one batch needs" with the default 128 lanes;
    without --batch-size, training takes as many lanes as the validation split fills, and says so."""
    tiny = [arg for pair in zip(TINY[::2], TINY[1::2], strict=True) if pair[0] != "--batch-size" for arg in pair]
    result = bot("train", data_folder, "--out", "ck", *tiny, "--num-epochs", "1", cwd=tmp_path)
    lanes = json.loads((tmp_path / "ck" / "config.json").read_text())["batch_size"]
    assert 1 < lanes < 128 and f"training with --batch-size {lanes}" in result.stderr


def test_distribute_splits_lanes_across_devices(data_folder, tmp_path):
    """Data parallel on two (forced) CPU devices trains the same model as one device, state carried on both.

    One epoch: over more, the two reduction orders of the gradients drift apart by ~1e-3 in the
    loss, which says nothing about the lanes. A run that dropped the state would be off by far more
    (0.47 against 0.32 on JAX before the state was carried).
    """
    pytest.importorskip("jax")
    from twitterbot.training.evaluate import evaluate

    two = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    args = ("train", data_folder, *TINY, "--num-epochs", "1")
    result = bot(*args, "--out", "split", "--distribute", cwd=tmp_path, backend="jax", env=two)
    assert "cpu:0, cpu:1" in result.stderr.replace("TFRT_CPU_0", "cpu:0").replace("TFRT_CPU_1", "cpu:1")
    bot(*args, "--out", "single", cwd=tmp_path, backend="jax", env=two)
    split, single = ((tmp_path / name / "history.csv").read_text().splitlines() for name in ("split", "single"))
    for row_split, row_single in zip(split[1:], single[1:], strict=True):
        assert [float(v) for v in row_split.split(",")] == pytest.approx(
            [float(v) for v in row_single.split(",")], rel=1e-4
        )
    saved = [evaluate(tmp_path / name, data_folder, "validate").loss for name in ("split", "single")]
    assert saved[0] == pytest.approx(saved[1], rel=1e-4)  # the checkpoint the split run saved is that model
    odd = bot(
        *args, "--out", "odd", "--distribute", "--batch-size", "3", cwd=tmp_path, backend="jax", env=two, check=False
    )
    assert odd.returncode == 1 and "does not split evenly across 2 devices" in odd.stderr


def test_bundled_model_writes_offline(tmp_path):
    """No checkpoint argument: the base model shipped inside the package."""
    from twitterbot.corpus.vocab import PLACEHOLDERS
    from twitterbot.training.checkpoint import BUNDLED
    from twitterbot.writing.filters import must_redraw

    assert sum(p.stat().st_size for p in BUNDLED.iterdir()) <= 10 * 1024 * 1024
    bot("generate", "--temp", "0.5", "-n", "20", "--seed", "0", "--out", "tweets.jsonl", cwd=tmp_path)
    vocab = set(json.loads((BUNDLED / "vocab.json").read_text())["chars"]) - set(PLACEHOLDERS.values())
    tweets = [json.loads(line)["text"] for line in (tmp_path / "tweets.jsonl").read_text().splitlines()]
    assert len(tweets) == 20
    for tweet in tweets:
        assert 1 <= len(tweet) <= 280 and set(tweet) <= vocab  # no placeholder shown
        assert "<url>" not in tweet and "@user" not in tweet and not must_redraw(tweet, tweet)


def test_finetune_starts_from_the_bundled_model(corpus_file, tmp_path):
    bot("prepare", corpus_file, "--vocab", "bundled", "--out", "data/me", cwd=tmp_path)
    tuned = bot("finetune", "data/me", "--out", "ck", "--num-epochs", "1", "--batch-size", "8", cwd=tmp_path).stdout
    before, after = (float(value) for value in tuned.split("│")[-4:-2])  # the table's before and after cells
    assert after < before


@pytest.mark.parametrize(
    "args, message",
    [
        (["prepare", "{corpus}", "--validate", "-0.1"], "--validate and --test must be"),
        (["prepare", "{corpus}", "--validate", "0.6", "--test", "0.5"], "leave some training data"),
        (["prepare", "{corpus}", "--coverage", "0"], "--coverage must be in (0, 1]"),
        (["prepare", "{corpus}", "--max-vocab", "2"], "--max-vocab must leave room"),
        (["train", "{data}", "--rnn-size", "-5"], "--rnn-size must be at least 1"),
        (["train", "{data}", "--num-epochs", "0"], "--num-epochs must be at least 1"),
        (["train", "{data}", "--drop-rate", "1"], "--drop-rate must be in [0, 1)"),
        (["train", "{data}", "--learning-rate", "0"], "--learning-rate must be positive"),
        (["train", "{data}", "--patience", "-1"], "--patience must be 0 or more"),
        (["train", "{data}", "--save-every", "-3"], "--save-every must be 0"),
        (["train", "{data}", "--min-delta", "-0.1"], "--min-delta must be 0 or more"),
        (["train", "{data}", "--seq-len", "60000"], "fewer than one batch needs"),
        (["train", "{data}", "--batch-size", "60000"], "lower --batch-size or --seq-len"),
        (
            ["finetune", "{data}", "--freeze-layers", str(BUNDLED_LAYERS + 1)],
            f"--freeze-layers must be between 0 and {BUNDLED_LAYERS}",
        ),
        (["finetune", "a", "b", "c"], "finetune takes [BASE] DATA"),
        (["finetune", "{data}", "--learning-rate", "0"], "--learning-rate must be positive"),
        (["finetune", "{data}", "--min-delta", "-1"], "--min-delta must be 0 or more"),
        (["finetune", "{data}", "--batch-size", "0"], "--batch-size must be at least 1"),
        (["generate", "--temp", "-1"], "--temp must be greater than 0"),
        (["generate", "--top-p", "0"], "--top-p must be in (0, 1]"),
        (["generate", "--top-p", "1.5"], "--top-p must be in (0, 1]"),
        (["generate", "--top-k", "-2"], "--top-k must be 0 (off) or positive"),
        (["generate", "-n", "0"], "-n must be at least 1"),
        (["generate", "--max-len", "0"], "--max-len must be at least 1"),
        (["generate", "--mention", "someone"], "--mention must be one @handle"),
        (["generate", "--link", "ftp://x"], "--link must be a web address"),
        (["export", "{data}", "--mention", "@a b"], "--mention must be one @handle"),
        (["generate", "--seed-text", "\u2603\u2603"], "--seed-text has characters the model does not know"),
        (["generate", "{data}"], "not a checkpoint, config.json is missing"),
        (["evaluate", "{data}", "{data}"], "not a checkpoint, config.json is missing"),
        (["export", "{data}", "--out", "web"], "not a checkpoint, config.json is missing"),
        (["serve", "{data}", "--port", "70000"], "--port must be between 0 and 65535"),
        (["serve", "{data}"], "not a web export, model.json is missing"),
    ],
)
def test_every_bad_flag_is_one_clear_error(args, message, corpus_file, data_folder, tmp_path, monkeypatch):
    """In-process (typer's runner) so that many cases stay fast; the one-line printing is tested above."""
    from typer.testing import CliRunner

    from twitterbot.cli.app import app
    from twitterbot.errors import BotError

    monkeypatch.chdir(tmp_path)
    args = [arg.format(corpus=corpus_file, data=data_folder) for arg in args]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, BotError), (result.exception, result.output)
    assert message in str(result.exception) and "\n" not in str(result.exception)


@pytest.mark.parametrize(
    "args, message",
    [
        (["prepare", "x", "--links", "shorten"], "'shorten' is not one of 'token', 'drop', 'keep'"),
        (["prepare", "x", "--mentions", "user"], "'user' is not one of 'token', 'drop', 'keep'"),
        (["train", "x", "--optimizer", "lion"], "'lion' is not one of 'sgd', 'rmsprop', 'adagrad', 'adadelta', 'adam'"),
        (["export", "x", "--quantize", "int4"], "'int4' is not one of 'float32', 'float16', 'uint8'"),
        (["evaluate", "x", "y", "--split", "dev"], "'dev' is not one of 'train', 'validate', 'test'"),
    ],
)
def test_choices_are_listed_and_checked_by_the_command_line(args, message):
    """Choices are typer's: --help lists them and a bad one is a usage error (exit 2) before any work.
    In-process (typer's runner) to stay fast; the one-line printing of usage errors is tested below."""
    from typer.testing import CliRunner

    from twitterbot.cli.app import app

    runner = CliRunner(env={"COLUMNS": "200"})
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and " ".join(message.split()) in " ".join(result.output.replace("│", "").split())
    listed = "|".join(message.split("'")[3::2])  # as --help shows them: <token|drop|keep>
    assert f"<{listed}>" in runner.invoke(app, [args[0], "--help"]).output


def test_a_usage_error_is_one_line(tmp_path):
    result = bot("prepare", "x", "--links", "shorten", cwd=tmp_path, check=False)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: Invalid value for '--links'") and "prepare --help`)" in result.stderr


def test_help_reads_cleanly_at_80_columns():
    """Issue 29: typer's boxes marked every flag `<bool>`, arguments `{inputs}...` and `<list[str]>`, and
    wrapped the command list raggedly. Every command's --help fits 80 columns, one line a command."""
    from typer.testing import CliRunner

    from twitterbot.cli.app import app

    runner = CliRunner(env={"COLUMNS": "80"})
    listing = runner.invoke(app, ["--help"], terminal_width=80).output
    commands = listing.split("Commands:\n")[1].splitlines()
    assert len(commands) == 11 and all(len(line) <= 80 and "..." not in line for line in commands), listing
    usages = {
        "prepare": "bot prepare [OPTIONS] INPUT...",
        "finetune": "bot finetune [OPTIONS] [BASE] DATA",
        "generate": "bot generate [OPTIONS] [CHECKPOINT]",
        "evaluate": "bot evaluate [OPTIONS] CHECKPOINT DATA",
    }
    for line in commands:
        name = line.split()[0]
        result = runner.invoke(app, [name, "--help"], terminal_width=80, prog_name="bot")
        assert result.exit_code == 0 and result.output.startswith(f"Usage: {usages.get(name, 'bot ' + name)}")
        for text in result.output.splitlines():
            assert len(text) <= 80 and not any(noise in text for noise in ("<bool>", "{", "list[", "╭")), text
    for command, flags in (("train", ["--restore", "--distribute", "--force"]), ("evaluate", ["--json"])):
        lines = runner.invoke(app, [command, "--help"], terminal_width=80).output.splitlines()
        for name in flags:
            (line,) = [line for line in lines if line.strip().startswith(f"{name} ")]
            assert "<" not in line, line


def test_each_setting_is_declared_once_and_offered_by_the_commands_that_take_it():
    """Issue 30: a setting was a dataclass field, a CLI option and a keyword again. Now the option is made
    from the field (config.setting: default, help, flags): a new field needs one edit to reach the CLI."""
    import dataclasses

    from typer.testing import CliRunner

    from twitterbot.cli.app import app
    from twitterbot.config import Config, FilterOptions, PrepareOptions, SampleOptions, SearchSettings
    from twitterbot.corpus.clean import CleanOptions

    takers = {
        Config: {"train": {"freeze_embedding", "freeze_layers"}},
        PrepareOptions: {"prepare": set()},
        CleanOptions: {"prepare": set()},
        SampleOptions: {"generate": set(), "post": {"seed_text"}, "export": {"seed_text", "seed"}},
        FilterOptions: {"generate": set(), "post": set(), "export": set()},
        SearchSettings: {"search": set()},
    }
    runner = CliRunner(env={"COLUMNS": "400"})
    helps = {name: runner.invoke(app, [name, "--help"], terminal_width=400).output for name in ("train", "prepare",
             "generate", "post", "export", "search")}  # fmt: skip
    for cls, commands in takers.items():
        for field in dataclasses.fields(cls):
            if "help" not in field.metadata:
                continue
            flag = (field.metadata["flags"] or (f"--{field.name.replace('_', '-')}",))[0].split("/")[0]
            for command, skipped in commands.items():
                options = helps[command].split("Options:\n")[1]
                rows = re.split(r"\n(?=  -)", options)  # an option's row, its help maybe on the next line
                named = [row for row in rows if re.search(rf"(^|[ ,]){flag}(?![\w-])", row.split("  ")[1])]
                lines = [" ".join(row.split()) for row in named]
                if field.name in skipped:
                    assert not lines, (command, flag)
                    continue
                assert len(lines) == 1 and field.metadata["help"].split()[0] in lines[0], (command, flag, lines)
                if not isinstance(field.default, bool) and field.default not in (None, ""):
                    assert f"[default: {field.default}]" in lines[0], (command, flag, lines[0])
