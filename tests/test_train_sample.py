"""Training, --restore, refusals, sampling rules and evaluation on a tiny model."""

import json
import math
import shutil

import h5py
import keras
import numpy as np
import pytest
from conftest import HAS_TENSORFLOW

from twitterbot.config import FilterOptions
from twitterbot.corpus.datafolder import open_data
from twitterbot.corpus.prepare import prepare
from twitterbot.corpus.vocab import EOT, UNK
from twitterbot.corpus.words import WordSet
from twitterbot.errors import BotError
from twitterbot.training import evaluate as evaluate_module
from twitterbot.training.checkpoint import BUNDLED, open_checkpoint, read_history
from twitterbot.training.evaluate import evaluate
from twitterbot.training.finetune import finetune
from twitterbot.training.lstm import LstmWeights, ModelWeights, lstm_step, numpy_ops, tweet_start_state
from twitterbot.training.model import lstm_layers, reset_states
from twitterbot.training.train import train
from twitterbot.writing.filters import Filters
from twitterbot.writing.sample import SampleOptions, Sampler, _sampling_logits, generate


def weights_of(path):
    values = {}
    with h5py.File(path) as h5:
        h5.visititems(lambda name, item: values.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return values


@pytest.fixture(scope="session")
def trained(trained_checkpoint):
    """The session's tiny trained checkpoint and its history (the rows history.csv holds)."""
    return trained_checkpoint, read_history(trained_checkpoint)


@pytest.mark.both_backends
def test_checkpoint_is_self_contained_and_loss_falls(trained, data_folder, keras_backend):
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
    assert any((out / "logs").rglob("*tfevents*")) == HAS_TENSORFLOW  # TensorBoard writes through TensorFlow
    ckpt = open_checkpoint(out)
    assert "sat" in ckpt.words().words and ckpt.words() == WordSet.load(data_folder / "words.txt.gz")
    assert [int(row["epoch"]) for row in history] == [0, 1]
    assert history[-1]["val_loss"] < 0.6 * math.log(ckpt.config.vocab_size)


def test_the_best_model_keeps_its_tweet_start_state(trained, data_folder):
    """Each best model is saved with the state it starts tweets from, read from the training text."""
    ckpt = open_checkpoint(trained[0])
    weights = LstmWeights.fold(ModelWeights.read(ckpt.weights, ckpt.config))
    saved = ckpt.start_state()
    assert [part.shape for part in saved] == [(1, ckpt.config.rnn_size)] * 2
    expected = tweet_start_state(weights, open_data(data_folder).split("train")[()])
    np.testing.assert_allclose(np.concatenate(saved), np.concatenate(expected), atol=1e-6)
    assert np.abs(saved[1]).max() > 0.1  # not the zeroed state tweets started from before


def test_a_release_copy_keeps_what_writing_needs_in_float16_and_no_training_state(trained, data_folder, tmp_path):
    """What scripts/bundle_base_model.py ships: float16 weights that write as the float32 ones do, the
    tweet-start state of those weights, the filters' files, and nothing --restore needs."""
    from twitterbot.corpus.datafolder import stream_tweets
    from twitterbot.corpus.novelty import NoveltyIndex
    from twitterbot.training import checkpoint

    source, data = open_checkpoint(trained[0]), open_data(data_folder)
    novelty = NoveltyIndex.build(stream_tweets(data.h5_path, data.vocab), compact=True)
    (tmp_path / "release").mkdir()
    (tmp_path / "release" / "old.txt").write_text("replaced as one unit")
    checkpoint.write_release(source, tmp_path / "release", data.split("train")[()], data.words(), novelty)
    shipped = open_checkpoint(tmp_path / "release")
    assert sorted(p.name for p in shipped.path.iterdir()) == sorted(
        [
            "config.json",
            "vocab.json",
            "history.csv",
            "loss.png",
            "model.weights.h5",
            "start_state.npz",
            "words.txt.gz",
            "novelty.npz",
        ]
    )
    assert {value.dtype for value in weights_of(shipped.weights).values()} == {np.dtype(np.float16)}
    ids = np.array([[EOT, *source.vocab.encode("the cat sat")]], np.int32)
    expected, got = (
        keras.ops.convert_to_numpy(keras.ops.softmax(ckpt.load_model(1, ids.shape[1]).predict(ids, verbose=0)))
        for ckpt in (source, shipped)
    )
    np.testing.assert_allclose(got, expected, atol=2e-3)  # the export's float16 tolerance on probabilities
    weights = LstmWeights.fold(ModelWeights.read(shipped.weights, shipped.config))
    np.testing.assert_allclose(
        np.concatenate(shipped.start_state()),
        np.concatenate(tweet_start_state(weights, data.split("train")[()])),
        atol=1e-6,
    )
    assert shipped.words() == data.words() and shipped.novelty() is not None


def test_tweet_start_state_is_the_mean_state_just_before_eot(trained):
    """The mean of the states after a tweet's last character (before <eot> is fed), past the burn-in."""
    ckpt = open_checkpoint(trained[0])
    weights = LstmWeights.fold(ModelWeights.read(ckpt.weights, ckpt.config))
    tweets = ["a dog ate my hat", "we love tiny tests #3", "hello world", "the cat sat on the mat"] * 4
    stream = np.concatenate([[*ckpt.vocab.encode(tweet).tolist(), EOT] for tweet in tweets]).astype(np.int32)
    assert len(stream) < 2 * 257  # one lane, its first half the burn-in
    state, ends = weights.zero_state(1), []
    for t in range(len(stream) - 1):
        _, state = lstm_step(weights.as_dict(), stream[t : t + 1], state, numpy_ops)
        if stream[t + 1] == EOT and t >= (len(stream) - 1) // 2:
            ends.append(np.concatenate(state, axis=1))
    expected = np.mean(ends, axis=0)
    np.testing.assert_allclose(np.concatenate(tweet_start_state(weights, stream), axis=1), expected, atol=1e-6)
    assert tweet_start_state(weights, np.full(100, 5, np.int32)) is None  # no tweet ends: none


def test_samplers_start_tweets_from_the_start_state(trained, tmp_path):
    """Without a start state (checkpoints written before it) tweets start from zeros, as they did."""
    ckpt = open_checkpoint(trained[0])
    sampler = Sampler(ckpt)
    for part, saved in zip(sampler.start_state(3), ckpt.start_state(), strict=True):
        np.testing.assert_array_equal(part, np.repeat(saved, 3, axis=0))
    older = tmp_path / "older"
    shutil.copytree(trained[0], older)
    (older / "start_state.npz").unlink()
    assert all((part == 0).all() for part in Sampler(open_checkpoint(older)).start_state(2))
    assert all((part == 0).all() for part in Sampler(ckpt, tweet_start=False).start_state(2))
    (older / "start_state.npz").write_bytes(b"not numpy")
    with pytest.raises(BotError, match="cannot read the tweet-start state"):
        open_checkpoint(older).start_state()


@pytest.mark.both_backends
def test_one_lane_trains(data_folder, tiny_config, tmp_path, keras_backend):
    """Batch size 1 (`--batch-size 1`, a tiny account's fine-tuning): TensorFlow's traced loop had refused it."""
    history = train(data_folder, tmp_path / "one", tiny_config.replace(batch_size=1, seq_len=128, num_epochs=1))
    assert history[-1]["val_loss"] < math.log(open_checkpoint(tmp_path / "one").config.vocab_size)


def test_early_stopping_says_why_it_stopped_and_keeps_the_best(data_folder, tiny_config, tmp_path):
    """Issue 29: a fine-tune asked for 30 epochs ended after 11 without a word."""
    import io

    from rich.console import Console

    said = io.StringIO()
    config = tiny_config.replace(num_epochs=5, patience=1, min_delta=5.0)  # no epoch after the first counts
    history = train(data_folder, tmp_path / "ck", config, console=Console(file=said, width=200))
    assert len(history) == 2
    best = min(row["val_loss"] for row in history)
    assert f"early stopping after epoch 2 of 5: val_loss fell less than --min-delta 5 for --patience 1 epochs; " \
        f"the best model (val_loss {best:.4f}) is kept" in said.getvalue()  # fmt: skip


@pytest.mark.both_backends
def test_restore_continues_exactly(data_folder, tiny_config, tmp_path, keras_backend):
    whole = tmp_path / "whole"
    train(data_folder, whole, tiny_config.replace(num_epochs=3))
    split = tmp_path / "split"
    train(data_folder, split, tiny_config.replace(num_epochs=1))
    history = train(data_folder, split, tiny_config.replace(num_epochs=3, learning_rate=123.0), restore=True)
    assert [int(row["epoch"]) for row in history] == [0, 1, 2]
    rows = (split / "history.csv").read_bytes()
    assert rows.count(b"\r\n") == rows.count(b"\n") == 4  # header + 3 epochs, one line ending throughout
    reference = weights_of(whole / "state" / "last.weights.h5")
    resumed = weights_of(split / "state" / "last.weights.h5")
    assert reference.keys() == resumed.keys()
    assert any("optimizer" in name for name in reference)  # optimizer slots travel with the weights
    for name in reference:
        np.testing.assert_allclose(resumed[name], reference[name], rtol=1e-5, atol=1e-6, err_msg=name)
    assert open_checkpoint(split).config.learning_rate == tiny_config.learning_rate  # restore keeps the config


@pytest.mark.both_backends
def test_bfloat16_training_learns_and_keeps_float32_weights(data_folder, tiny_config, tmp_path, keras_backend):
    """--precision mixed_bfloat16 runs the products in bfloat16; what it saves is float32, `bot evaluate`
    (float32) reads about what training's validation did, and a restore may go back to float32."""
    out = tmp_path / "bf16"
    history = train(data_folder, out, tiny_config.replace(precision="mixed_bfloat16"))
    vocab_size = open_checkpoint(out).config.vocab_size
    assert history[-1]["val_loss"] < 0.6 * math.log(vocab_size)
    for path in (out / "model.weights.h5", out / "state" / "last.weights.h5"):
        kinds = {value.dtype for name, value in weights_of(path).items() if name.startswith("layers/")}
        assert kinds == {np.dtype("float32")}, path
    assert open_checkpoint(out).config.precision == "mixed_bfloat16"
    tuned = finetune(out, data_folder, tmp_path / "tuned", num_epochs=1)  # this machine's precision, not the base's
    assert tuned.config.precision == open_checkpoint(tmp_path / "tuned").config.precision == "float32"
    assert evaluate(out, data_folder, split="validate").loss == pytest.approx(history[-1]["val_loss"], abs=0.05)
    history = train(
        data_folder, out, tiny_config.replace(num_epochs=3), restore=True, changed=["num_epochs", "precision"]
    )
    assert len(history) == 3 and open_checkpoint(out).config.precision == "float32"
    with pytest.raises(BotError, match="--precision must be one of float32, mixed_bfloat16"):
        tiny_config.replace(precision="float16")


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
    tweets = list(generate(ckpt, 6, options))
    assert len(tweets) == 6
    allowed = set(ckpt.vocab.chars)
    for tweet in tweets:
        assert 1 <= len(tweet) <= 40
        assert set(tweet) <= allowed  # no <unk> (U+FFFD) and nothing outside the vocabulary
    assert list(generate(ckpt, 6, options)) == tweets  # --seed makes it reproducible
    seeded = list(generate(ckpt, 2, SampleOptions(seed_text="the cat", max_len=30, seed=1)))
    assert all(t.startswith("the cat") and len(t) <= 30 for t in seeded)
    with pytest.raises(BotError, match="does not know"):
        generate(ckpt, 1, SampleOptions(seed_text="☃"))


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
def test_a_third_mention_in_a_row_is_never_drawn(compiled):
    """At a low temperature the bundled model went on "@user @user @user …" to the length cap; after two
    mention placeholders in a row (spaces between them) a stream may not draw a third, but may one later."""
    import dataclasses
    import re

    from twitterbot.corpus.vocab import MENTION_TOKEN

    sampler = Sampler(open_checkpoint(BUNDLED), compiled=compiled)
    two, one = f"{MENTION_TOKEN} {MENTION_TOKEN} ", f"{MENTION_TOKEN} "
    options = SampleOptions(temperature=0.3, max_len=40, seed=1)
    after_two = sampler.sample(64, dataclasses.replace(options, seed_text=two), guard=False)
    assert not [t for t in after_two if re.search(rf"{MENTION_TOKEN}\s*{MENTION_TOKEN}\s*{MENTION_TOKEN}", t)]
    after_one = sampler.sample(64, dataclasses.replace(options, seed_text=one), guard=False)
    assert any(t.startswith(two) for t in after_one)  # a second one is still drawn: only the third is not


def test_tweets_cut_at_max_len_are_marked_and_not_shown(trained):
    """A candidate the model did not end within --max-len is marked; the filters reject it as 'unfinished'
    rather than show it cut mid-word, and `--no-filter` still shows what the model wrote."""
    ckpt = open_checkpoint(trained[0])
    limit = 32  # the tiny model ends tweets after one phrase and a tag (20–28 characters) or two (40 on)
    options = SampleOptions(temperature=1.0, max_len=limit, seed=5)
    candidates = Sampler(ckpt).candidates(64, options, np.random.default_rng(5))
    assert {candidate.ended for candidate in candidates} == {True, False}
    for raw, _, ended in candidates:
        assert ended == (len(raw) < limit), raw  # ended: <eot> drawn before the limit
    shown = generate(ckpt, 20, options, Filters(FilterOptions()))
    tweets = list(shown)
    assert tweets and all(len(tweet) < limit for tweet in tweets)
    assert shown.rejected["unfinished"] > 0
    assert any(len(tweet) == limit for tweet in generate(ckpt, 20, options))


def test_learned_pattern_shows_in_samples(trained):
    ckpt = open_checkpoint(trained[0])
    tweets = list(generate(ckpt, 8, SampleOptions(temperature=0.3, seed=0, seed_text="the")))
    words = set("the cat sat on the mat a dog ate my hat we love tiny tests hello world, bot".split())
    found = [word in words for tweet in tweets for word in tweet.split()]
    assert sum(found) >= 0.8 * len(found), tweets


@pytest.fixture(scope="module", params=["tiny", "tiny, 2 layers", "bundled"])
def any_checkpoint(request, trained_checkpoint, two_layer_checkpoint):
    return {"tiny": trained_checkpoint, "tiny, 2 layers": two_layer_checkpoint, "bundled": BUNDLED}[request.param]


OPS = pytest.mark.parametrize("ops", [numpy_ops, keras.ops], ids=["numpy", "keras"])


@OPS
def test_fused_step_matches_keras(any_checkpoint, ops):
    """The weights read with h5py (float16 in the bundled model) and the fused step, in NumPy and in
    keras.ops, give the Keras model's probabilities at every step."""
    ckpt = open_checkpoint(any_checkpoint)
    sampler = Sampler(ckpt)
    ids = [EOT, *ckpt.vocab.encode("the cat sat on the mat #12").tolist()]
    model = ckpt.load_model(1, None)
    reset_states(model)
    reference = keras.ops.convert_to_numpy(keras.ops.softmax(model.predict_on_batch(np.array([ids], "int32"))[0]))
    weights = sampler.weights.as_dict(np.asarray if ops is numpy_ops else keras.ops.convert_to_tensor)
    state, fused = sampler.weights.zero_state(1), []
    for i in ids:
        logits, state = lstm_step(weights, np.array([i], "int32"), state, ops)
        fused.append(keras.ops.convert_to_numpy(keras.ops.softmax(logits))[0])
    assert np.abs(np.array(fused) - reference).max() <= 1e-5


@pytest.mark.parametrize(
    "options",
    [
        dict(temperature=0.8),
        dict(temperature=1.2, top_k=5, seed_text="the "),
        dict(temperature=0.5, top_p=0.9, max_len=40),
    ],
    ids=["temp", "top-k, seed text", "top-p"],
)
def test_numpy_and_compiled_samplers_write_the_same_tweets(any_checkpoint, options):
    """A --seed gives the same tweets whichever path draws them (NumPy for a few, compiled for many)."""
    ckpt = open_checkpoint(any_checkpoint)
    chosen = SampleOptions(seed=7, **options)
    assert Sampler(ckpt, compiled=True).sample(6, chosen) == Sampler(ckpt).sample(6, chosen)


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
def test_the_loop_follows_the_model_greedily(trained, compiled):
    """top-k 1 makes sampling deterministic: either loop must pick Keras's argmax at every step."""
    ckpt = open_checkpoint(trained[0])
    (tweet,) = Sampler(ckpt, compiled).sample(1, SampleOptions(temperature=1.0, top_k=1, max_len=50, seed_text="a dog"))
    model = ckpt.load_model(1, 1)
    start = ckpt.start_state()
    for layer, h, c in zip(lstm_layers(model), start[0::2], start[1::2], strict=True):
        layer.states[0].assign(h)  # where generation starts a tweet
        layer.states[1].assign(c)
    expected = "a dog"
    for i in [EOT, *ckpt.vocab.encode("a dog").tolist()]:
        logits = model.predict_on_batch(np.array([[i]], "int32"))[0, -1]
    while len(expected) < 50:
        logits[UNK] = -np.inf
        best = int(np.argmax(logits))
        if best == EOT:
            break
        expected += ckpt.vocab.decode([best])
        logits = model.predict_on_batch(np.array([[best]], "int32"))[0, -1]
    assert tweet == expected


def test_very_low_temperature_is_greedy_not_overflow(trained):
    """logits / 0.001 overflow exp(); the loop must subtract the maximum first and pick the argmax."""
    ckpt = open_checkpoint(trained[0])
    sampler = Sampler(ckpt)
    greedy = sampler.sample(2, SampleOptions(top_k=1, max_len=50, seed_text="a dog", seed=1))
    assert sampler.sample(2, SampleOptions(temperature=0.001, max_len=50, seed_text="a dog", seed=1)) == greedy


@OPS
def test_sampling_masks(ops):
    logits = np.log(np.array([[0.3, 0.4, 0.1, 0.15, 0.05], [0.05, 0.1, 0.5, 0.25, 0.1]], "float32"))
    allow_eot = np.array([False, True])

    def kept(**options):
        masked = keras.ops.convert_to_numpy(_sampling_logits(logits, SampleOptions(**options), allow_eot, ops))
        return np.isfinite(masked).tolist()

    assert kept() == [[False, False, True, True, True], [True, False, True, True, True]]  # <unk>, early <eot>
    assert kept(top_k=2) == [[False, False, True, True, False], [False, False, True, True, False]]
    assert kept(top_p=0.6, temperature=1.0) == [[False, False, True, True, False], [False, False, True, True, False]]


@OPS
def test_temperature_changes_the_words_not_when_the_tweet_ends(ops):
    """<eot> keeps the model's probability (without <unk>) at every temperature; the rest is tempered."""
    logits = np.log(np.array([[0.2, 0.1, 0.4, 0.2, 0.1]], "float32"))
    for temperature in (0.2, 0.5, 1.0, 1.5):
        shaped = keras.ops.convert_to_numpy(
            _sampling_logits(logits, SampleOptions(temperature=temperature), np.array([True]), ops)
        )
        p = np.exp(shaped[0])
        assert p.sum() == pytest.approx(1.0, abs=1e-6) and p[UNK] == 0
        assert p[EOT] == pytest.approx(0.2 / 0.9, rel=1e-5)
        tempered = np.array([0.4, 0.2, 0.1]) ** (1 / temperature)
        np.testing.assert_allclose(p[2:], (1 - 0.2 / 0.9) * tempered / tempered.sum(), rtol=1e-5)


@OPS
def test_the_opening_character_keeps_the_models_probabilities(ops):
    """A tweet's opening (no seed text before it) is drawn at the model's own probabilities at every
    temperature, without <unk> and <eot>."""
    logits = np.log(np.array([[0.2, 0.1, 0.4, 0.2, 0.1]], "float32"))
    for temperature in (0.2, 1.5):
        options = SampleOptions(temperature=temperature)
        shaped = _sampling_logits(logits, options, np.array([False]), ops, opening=np.bool_(True))
        p = np.exp(keras.ops.convert_to_numpy(shaped)[0])
        np.testing.assert_allclose(p, [0, 0, 4 / 7, 2 / 7, 1 / 7], rtol=1e-5)


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
def test_temperature_leaves_the_kind_of_tweet_to_the_model(compiled):
    """At --temp 0.3 the bundled model's openings come as often as the model gives them (a reply's mention
    placeholder about half the time, not nearly always); after seed text the next character is tempered."""
    sampler = Sampler(open_checkpoint(BUNDLED), compiled=compiled)
    weights = sampler.weights.as_dict()

    def model_probabilities(prefix: list[int], temperature: float) -> np.ndarray:
        state = sampler.start_state(1)
        for i in prefix:
            logits, state = lstm_step(weights, np.array([i], "int32"), state, numpy_ops)
        logits = np.where(np.isin(np.arange(logits.shape[-1]), [EOT, UNK]), -np.inf, logits[0] / temperature)
        return numpy_ops.softmax(logits)

    def drawn(options: SampleOptions) -> np.ndarray:
        texts = sampler.sample(4000, options, guard=False)
        ids = sampler.vocab.encode("".join(text[len(options.seed_text)] for text in texts))
        return np.bincount(ids, minlength=sampler.vocab.size) / len(texts)

    options = SampleOptions(temperature=0.3, max_len=1, seed=2)
    opening, expected = drawn(options), model_probabilities([EOT], 1.0)
    assert np.abs(opening - expected).sum() / 2 < 0.05  # total variation: sampling noise at 4,000 draws
    assert expected.max() < 0.6 and model_probabilities([EOT], 0.3).max() > 0.9  # tempered, one opening would rule
    seeded = SampleOptions(temperature=0.3, max_len=3, seed=2, seed_text="I")
    after_seed = drawn(seeded)
    tempered = model_probabilities([EOT, *sampler.vocab.encode("I").tolist()], 0.3)
    assert np.abs(after_seed - tempered).sum() / 2 < 0.05


def test_bad_sample_options():
    for kwargs, flag in [
        ({"temperature": 0}, "--temp"),
        ({"top_p": 1.5}, "--top-p"),
        ({"top_k": -1}, "--top-k"),
        ({"max_len": 5, "seed_text": "too long"}, "--seed-text"),
    ]:
        with pytest.raises(BotError, match=flag):
            SampleOptions(**kwargs)


@pytest.mark.both_backends
def test_evaluate_reports_loss_bits_and_perplexity(trained, data_folder, keras_backend, monkeypatch):
    out, history = trained
    monkeypatch.setattr(evaluate_module, "MIN_LANE_CHARS", 1)  # the lanes training validated with
    result = evaluate(out, data_folder, "validate")
    assert result.loss == pytest.approx(min(row["val_loss"] for row in history), rel=1e-4)
    assert result.bits_per_char == pytest.approx(result.loss / math.log(2))
    assert result.perplexity == pytest.approx(math.exp(result.loss))
    assert evaluate(out, data_folder).split == "test"


def test_a_small_splits_loss_does_not_depend_on_the_batch_size_trained_at(trained, data_folder, tmp_path):
    """Every lane starts from a zeroed state; many short lanes would charge that start many times."""
    out, _ = trained
    wide = tmp_path / "wide"
    shutil.copytree(out, wide)
    config = json.loads((wide / "config.json").read_text())
    (wide / "config.json").write_text(json.dumps({**config, "batch_size": 64}))
    result = evaluate(out, data_folder)
    assert result.chars > open_data(data_folder).lengths["test"] - 2 * config["seq_len"]  # one lane
    assert evaluate(wide, data_folder).loss == pytest.approx(result.loss, abs=1e-6)


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(BotError, match="vocab.json is missing"):
        open_checkpoint(tmp_path)


@pytest.mark.both_backends
def test_finetune_lowers_the_accounts_loss(trained, tmp_path, keras_backend):
    base = open_checkpoint(trained[0])
    account = tmp_path / "account.txt"
    account.write_text("\n".join(f"we love tiny tests, said bot number {i % 9}" for i in range(300)) + "\n")
    prepare([str(account)], tmp_path / "own")  # its own vocabulary, not the base model's
    with pytest.raises(BotError, match="not encoded with the vocabulary"):
        finetune(base.path, tmp_path / "own", tmp_path / "bad")
    summary = prepare([str(account)], tmp_path / "me", vocab=base.vocab)
    assert summary.vocab_size == base.vocab.size
    result = finetune(
        base.path,
        tmp_path / "me",
        tmp_path / "me-ckpt",
        num_epochs=2,
        learning_rate=0.01,
        freeze_embedding=True,
        freeze_layers=1,
    )
    assert result.after.loss < result.before.loss
    mine = open_checkpoint(tmp_path / "me-ckpt")
    assert "said" not in base.words().words and mine.words().words >= base.words().words | {"said"}  # its and mine
    config = mine.config
    assert config.freeze_embedding and config.freeze_layers == 1 and config.learning_rate == 0.01

    def embedding(path):
        with h5py.File(path) as f:
            return f["layers/embedding/vars/0"][()]

    np.testing.assert_array_equal(embedding(tmp_path / "me-ckpt" / "model.weights.h5"), embedding(base.weights))


@pytest.mark.both_backends
def test_finetune_starts_a_fresh_optimizer_where_the_bases_would_fit(data_folder, tiny_config, tmp_path, keras_backend):
    # SGD has no slots: a compiled model loading the base's weights file took its learning rate and step count too
    train(data_folder, tmp_path / "base", tiny_config.replace(optimizer="sgd", num_epochs=1))
    result = finetune(tmp_path / "base", data_folder, tmp_path / "tuned", num_epochs=1)
    assert result.history[0]["learning_rate"] == pytest.approx(tiny_config.learning_rate / 10)
