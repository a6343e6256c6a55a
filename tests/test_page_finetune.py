"""The page's fine-tuning (twitterbot/web/page/finetune.js, in real tfjs) gives `bot finetune`'s losses."""

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from twitterbot.corpus.datafolder import open_data
from twitterbot.training.checkpoint import open_checkpoint, save_config
from twitterbot.training.finetune import finetune
from twitterbot.web.export import export

pytestmark = pytest.mark.browser  # Node.js with real tfjs

ROOT = Path(__file__).resolve().parents[1]
# |page - bot finetune| of the epoch's mean training loss and the validation loss after it, nats/char, over
# ~300 batches: both float32 on the same batches, in another order of operations. Measured ≤ 2.3e-7
# (RMSprop, Adam, SGD; tfjs's wasm backend, the page's, against Keras on JAX); every --optimizer is checked.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def base(data_folder, tiny_config, tmp_path_factory):
    """A base one epoch in, not the session's two-epoch checkpoint: fine-tuning that one on the corpus it
    nearly learned raises the validation loss, and the comparison must be of updates that teach."""
    from twitterbot.training.train import train

    out = tmp_path_factory.mktemp("page-finetune") / "base"
    train(data_folder, out, tiny_config.replace(num_epochs=1))
    return open_checkpoint(out)


def page_epoch(export_dir: Path, config: dict, data, tmp_path: Path, backend: str = "wasm", **run_args) -> dict:
    """One epoch of the page's FineTuner on the data folder's streams (with epochs=N: its whole fineTune)."""
    run = tmp_path / "run.json"
    streams = {name: np.asarray(data.split(name)[:]).tolist() for name in ("train", "validate")}
    run.write_text(json.dumps({"config": config, **streams, **run_args}))
    out = tmp_path / "page.json"
    args = ["node", "tests/js/finetune.mjs", export_dir, run, out, backend]
    result = subprocess.run(list(map(str, args)), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam", "sgd", "adagrad", "adadelta"])  # every --optimizer
def test_one_epoch_in_the_page_matches_bot_finetune(base, tmp_path, data_folder, optimizer):
    if optimizer != base.config.optimizer:  # a fine-tune takes the base's optimizer: the same weights, told adam
        shutil.copytree(base.path, tmp_path / "base")
        save_config(tmp_path / "base", base.config.replace(optimizer=optimizer))
        base = open_checkpoint(tmp_path / "base")
    export(base, tmp_path / "web")
    rate = 1.0 if optimizer == "adadelta" else None  # Adadelta's steps are tiny at a tenth of 0.01
    result = finetune(base.path, data_folder, tmp_path / "tuned", learning_rate=rate, num_epochs=1)
    keras_row = result.history[0]
    page = page_epoch(tmp_path / "web", dataclasses.asdict(result.config), open_data(data_folder), tmp_path)
    assert abs(page["loss"] - keras_row["loss"]) <= TOLERANCE, (page, keras_row)
    assert abs(page["val_loss"] - keras_row["val_loss"]) <= TOLERANCE, (page, keras_row)
    assert keras_row["val_loss"] < result.before.loss  # it learned: the comparison is of a real update


def test_several_passes_in_the_page_halve_the_rate_and_stop_as_bot_finetune_does(base, tmp_path, data_folder):
    """Early stopping and the rate halved on a plateau, with the schedule the export wrote: a validation
    loss that must fall by 0.5 a pass halves the rate after the second pass and stops after the third."""
    shutil.copytree(base.path, tmp_path / "base")
    save_config(tmp_path / "base", base.config.replace(patience=2, min_delta=0.5))
    export(open_checkpoint(tmp_path / "base"), tmp_path / "web")
    result = finetune(tmp_path / "base", data_folder, tmp_path / "tuned", num_epochs=6)
    rates = [row["learning_rate"] for row in result.history]
    assert rates == pytest.approx([rates[0], rates[0], rates[0] / 2], rel=1e-6)  # 3 of 6 passes, halved once
    page = page_epoch(tmp_path / "web", dataclasses.asdict(result.config), open_data(data_folder), tmp_path, epochs=6)[
        "history"
    ]
    assert [row["epoch"] for row in page] == [row["epoch"] for row in result.history]
    for ours, keras_row in zip(page, result.history, strict=True):
        assert ours["learning_rate"] == pytest.approx(keras_row["learning_rate"], rel=1e-6)
        assert abs(ours["loss"] - keras_row["loss"]) <= TOLERANCE, (page, result.history)
        assert abs(ours["val_loss"] - keras_row["val_loss"]) <= TOLERANCE, (page, result.history)
