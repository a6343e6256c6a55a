"""Training, --restore, refusals, sampling rules and evaluation on a tiny model."""

import math

import h5py
import numpy as np
import pytest

from twitterbot.checkpoint import open_checkpoint
from twitterbot.data import prepare
from twitterbot.errors import BotError
from twitterbot.evaluate import evaluate
from twitterbot.sample import SampleOptions, draw, generate, shape_distribution
from twitterbot.train import train
from twitterbot.vocab import EOT, UNK


def weights_of(path):
    values = {}
    with h5py.File(path) as h5:
        h5.visititems(lambda name, item: values.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return values


@pytest.fixture(scope="module")
def trained(data_folder, tiny_config, tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    history = train(data_folder, out, tiny_config)
    return out, history


def test_checkpoint_is_self_contained_and_loss_falls(trained):
    out, history = trained
    for piece in (
        "config.json",
        "vocab.json",
        "model.weights.h5",
        "history.csv",
        "loss.png",
        "state/state.json",
        "state/last.weights.h5",
    ):
        assert (out / piece).is_file(), piece
    assert any((out / "logs").rglob("*tfevents*"))
    ckpt = open_checkpoint(out)
    assert [int(row["epoch"]) for row in history] == [0, 1]
    assert history[-1]["val_loss"] < 0.6 * math.log(ckpt.config.vocab_size)


def test_restore_continues_exactly(data_folder, tiny_config, tmp_path):
    whole = tmp_path / "whole"
    train(data_folder, whole, tiny_config.replace(num_epochs=3))
    split = tmp_path / "split"
    train(data_folder, split, tiny_config.replace(num_epochs=1))
    history = train(data_folder, split, tiny_config.replace(num_epochs=3, learning_rate=123.0), restore=True)
    assert [int(row["epoch"]) for row in history] == [0, 1, 2]
    reference = weights_of(whole / "state" / "last.weights.h5")
    resumed = weights_of(split / "state" / "last.weights.h5")
    assert reference.keys() == resumed.keys()
    assert any("optimizer" in name for name in reference)  # optimizer slots travel with the weights
    for name in reference:
        np.testing.assert_allclose(resumed[name], reference[name], rtol=1e-5, atol=1e-6, err_msg=name)
    assert open_checkpoint(split).config.learning_rate == tiny_config.learning_rate  # restore keeps the config


def test_fresh_run_refuses_existing_checkpoint(trained, data_folder, tiny_config):
    out, _ = trained
    before = (out / "model.weights.h5").read_bytes()
    with pytest.raises(BotError, match="already exists"):
        train(data_folder, out, tiny_config)
    with pytest.raises(BotError, match="fewer than one batch"):  # --force with bad settings keeps the old run
        train(data_folder, out, tiny_config.replace(batch_size=512), force=True)
    assert (out / "model.weights.h5").read_bytes() == before


def test_restore_refuses_other_vocabulary(trained, tmp_path, tiny_config):
    out, _ = trained
    other = tmp_path / "other.txt"
    other.write_text("\n".join(f"zzz {i} QQQ" for i in range(300)))
    prepare([str(other)], tmp_path / "other")
    with pytest.raises(BotError, match="vocabulary differs"):
        train(tmp_path / "other", out, tiny_config, restore=True)
    with pytest.raises(BotError, match="vocabulary differs"):
        evaluate(out, tmp_path / "other")


def test_too_small_split_is_a_clear_error(data_folder, tiny_config, tmp_path):
    with pytest.raises(BotError, match="fewer than one batch needs"):
        train(data_folder, tmp_path / "big", tiny_config.replace(batch_size=512, seq_len=64))


def test_samples_obey_the_rules(trained):
    ckpt = open_checkpoint(trained[0])
    options = SampleOptions(temperature=1.0, max_len=40, seed=7)
    tweets = generate(ckpt, 6, options)
    assert len(tweets) == 6
    allowed = set(ckpt.vocab.chars)
    for tweet in tweets:
        assert 1 <= len(tweet) <= 40
        assert set(tweet) <= allowed  # no <unk> (U+FFFD) and nothing outside the vocabulary
    assert generate(ckpt, 6, options) == tweets  # --seed makes it reproducible
    seeded = generate(ckpt, 2, SampleOptions(seed_text="the cat", max_len=30, seed=1))
    assert all(t.startswith("the cat") and len(t) <= 30 for t in seeded)
    with pytest.raises(BotError, match="does not know"):
        generate(ckpt, 1, SampleOptions(seed_text="☃"))


def test_learned_pattern_shows_in_samples(trained):
    ckpt = open_checkpoint(trained[0])
    tweets = generate(ckpt, 8, SampleOptions(temperature=0.3, seed=0))
    words = set("the cat sat on the mat a dog ate my hat we love tiny tests hello world, bot".split())
    found = [word in words for tweet in tweets for word in tweet.split()]
    assert sum(found) >= 0.8 * len(found), tweets


def test_shape_distribution_rules():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(10), size=3)
    probabilities[:, UNK] = 0.9
    allow_eot = np.array([True, False, True])
    weights = shape_distribution(probabilities, SampleOptions(top_k=3), allow_eot)
    assert np.allclose(weights.sum(axis=1), 1)
    assert (weights[:, UNK] == 0).all() and weights[1, EOT] == 0
    assert ((weights > 0).sum(axis=1) <= 3).all()
    top_p = shape_distribution(probabilities, SampleOptions(top_p=0.5, temperature=1.0), np.ones(3, bool))
    for row, source in zip(top_p, probabilities, strict=True):
        source = np.where(np.arange(10) == UNK, 0, source)
        source = source / source.sum()
        kept = np.sort(source[row > 0])[::-1]
        assert kept.sum() >= 0.5 - 1e-9 and kept[:-1].sum() < 0.5  # the smallest set reaching p
    picks = draw(np.tile(np.eye(10)[4], (5, 1)), rng)
    assert (picks == 4).all()


def test_bad_sample_options():
    for kwargs, flag in [
        ({"temperature": 0}, "--temp"),
        ({"top_p": 1.5}, "--top-p"),
        ({"top_k": -1}, "--top-k"),
        ({"max_len": 5, "seed_text": "too long"}, "--seed-text"),
    ]:
        with pytest.raises(BotError, match=flag):
            SampleOptions(**kwargs)


def test_evaluate_reports_loss_bits_and_perplexity(trained, data_folder):
    out, history = trained
    result = evaluate(out, data_folder, "validate")
    assert result["loss"] == pytest.approx(min(row["val_loss"] for row in history), rel=1e-4)
    assert result["bits_per_char"] == pytest.approx(result["loss"] / math.log(2))
    assert result["perplexity"] == pytest.approx(math.exp(result["loss"]))
    assert evaluate(out, data_folder)["split"] == "test"


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(BotError, match="vocab.json is missing"):
        open_checkpoint(tmp_path)
