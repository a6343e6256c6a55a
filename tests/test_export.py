"""`bot export` and `bot serve`: the TF.js model matches Keras in real tfjs, the page writes tweets in Chromium."""

import dataclasses
import json
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

from twitterbot.cli.app import app
from twitterbot.config import SampleOptions
from twitterbot.corpus.datafolder import open_data
from twitterbot.corpus.vocab import MENTION_TOKEN, URL_TOKEN
from twitterbot.errors import BotError
from twitterbot.training.checkpoint import open_checkpoint
from twitterbot.training.lstm import ModelWeights, lstm_step, numpy_ops
from twitterbot.training.model import reset_states
from twitterbot.web import export as export_module
from twitterbot.web import importweb
from twitterbot.web.export import export
from twitterbot.writing.sample import Sampler, mention_chain

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
# Max |p_tfjs - p_keras| over every step and character: float32 must match; quantized weights move
# probabilities a little (measured on trained models: float16 2.4e-4, uint8 1.8e-2).
TOLERANCE = {None: 1e-4, "float16": 2e-3, "uint8": 5e-2}


@pytest.fixture(scope="module")
def checkpoint(two_layer_checkpoint):
    return open_checkpoint(two_layer_checkpoint)


def node(*args, timeout=300):
    result = subprocess.run(["node", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result


def keras_probabilities(ckpt, ids):
    model = ckpt.load_model(1, None)
    reset_states(model)
    return keras.ops.convert_to_numpy(keras.ops.softmax(model.predict_on_batch(np.array([ids], "int32"))[0]))


@pytest.mark.browser
@pytest.mark.parametrize("quantize, backend", [(None, "cpu"), (None, "wasm"), ("float16", "cpu"), ("uint8", "cpu")])
def test_tfjs_matches_keras_step_by_step(checkpoint, tmp_path, quantize, backend):
    out = tmp_path / "web"
    export(checkpoint, out, quantize)
    ids = [0, *checkpoint.vocab.encode("the cat sat on the mat\na dog").tolist()]
    node("tests/js/parity.mjs", out, json.dumps(ids), tmp_path / "parity.json", backend)
    result = json.loads((tmp_path / "parity.json").read_text())
    assert result["version"] == "4.22.0" and result["backend"] == backend
    reference = keras_probabilities(checkpoint, ids)
    for path in ("layers", "fused"):  # tfjs's own LSTM layer, and the page's fused step
        difference = np.abs(np.array(result[path]) - reference).max()
        assert difference <= TOLERANCE[quantize], (path, difference)
    # From the tweet-start state, where the page starts each tweet: the same as `bot generate`'s step
    sampler = Sampler(checkpoint)
    state, expected = sampler.start_state(1), []
    for i in ids:
        logits, state = lstm_step(sampler.weights.as_dict(), np.array([i], "int32"), state, numpy_ops)
        expected.append(numpy_ops.softmax(logits)[0])
    assert not np.allclose(expected, reference, atol=1e-3)  # a state of its own, not zeros
    difference = np.abs(np.array(result["fromStart"]) - np.array(expected)).max()
    assert difference <= TOLERANCE[quantize], ("fromStart", difference)


@pytest.mark.browser
def test_export_folder_contents_and_sharding(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "SHARD_BYTES", 4096)
    out = tmp_path / "web"
    sizes = export(checkpoint, out)
    model_json = json.loads((out / "model.json").read_text())
    topology = model_json["modelTopology"]
    assert topology["class_name"] == "Sequential"
    assert [layer["class_name"] for layer in topology["config"]["layers"]] == ["Embedding", "LSTM", "LSTM", "Dense"]
    assert topology["config"]["layers"][0]["config"]["batch_input_shape"] == [1, 1]
    (group,) = model_json["weightsManifest"]
    assert len(group["paths"]) == sizes["shards"] > 1
    assert all((out / p).stat().st_size <= 4096 for p in group["paths"])
    assert sum((out / p).stat().st_size for p in group["paths"]) == sizes["weights_bytes"]
    assert [w["name"] for w in group["weights"]][:4] == [
        "embedding/embeddings",
        "lstm_0/kernel",
        "lstm_0/recurrent_kernel",
        "lstm_0/bias",
    ]
    generation = json.loads((out / "generation.json").read_text())
    defaults = {"temperature": 0.8, "top_k": 0, "top_p": 1.0, "max_len": 280, "link": "", "mention": ""}
    start_state = [part[0].tolist() for part in checkpoint.start_state()]  # where the page starts a tweet
    assert generation == {
        **defaults,
        "format_version": 1,  # import-web refuses a newer export's
        "config": dataclasses.asdict(checkpoint.config),
        "finetune_epochs": 10,
        "finetune_learning_rate": checkpoint.config.learning_rate / 10,  # `bot finetune`'s default
        "redraws": 10,
        "mention_chain": mention_chain(checkpoint.vocab),  # no third mention placeholder in a row
        "startState": start_state,
        "optimizer": {"name": "rmsprop", "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False},  # Keras's
        "schedule": {  # fine-tuning halves its rate, then stops, as training's callbacks do
            "early_stopping": {"patience": 3, "min_delta": 0.01},
            "reduce_lr": {"factor": 0.5, "patience": 2, "min_delta": 0.005},
        },
    }
    vocab = json.loads((out / "vocab.json").read_text())
    assert vocab["eot"] == 0 and vocab["unk"] == 1 and len(vocab["chars"]) == checkpoint.vocab.size - 2
    assert vocab["placeholders"] == {"link": URL_TOKEN, "mention": MENTION_TOKEN}  # the page renders them
    for asset in (
        "index.html",
        "app.js",
        "generator.js",
        "vendor/tf.min.js",
        "vendor/tf-backend-wasm.min.js",
        "vendor/tfjs-backend-wasm-simd.wasm",
    ):
        assert (out / asset).is_file(), asset
    assert "https://" not in (out / "index.html").read_text()  # no CDN: works offline
    ids = [0, *checkpoint.vocab.encode("hello").tolist()]
    node("tests/js/parity.mjs", out, json.dumps(ids), tmp_path / "parity.json")  # the shards reassemble
    result = json.loads((tmp_path / "parity.json").read_text())
    assert np.abs(np.array(result["fused"]) - keras_probabilities(checkpoint, ids)).max() <= 1e-4


@pytest.mark.browser
def test_vendored_tfjs_is_the_npm_build():
    vendor = ROOT / "twitterbot" / "web" / "page" / "vendor"
    for name, package in [
        ("tf.min.js", "tfjs"),
        ("tf-backend-wasm.min.js", "tfjs-backend-wasm"),
        ("tfjs-backend-wasm-simd.wasm", "tfjs-backend-wasm"),
    ]:
        npm_file = ROOT / "node_modules" / "@tensorflow" / package / "dist" / name
        assert (vendor / name).read_bytes() == npm_file.read_bytes(), name


@pytest.mark.browser
def test_vendored_helpers_are_built_from_npm(tmp_path):
    node("scripts/vendor-web.mjs", tmp_path)
    vendor = ROOT / "twitterbot" / "web" / "page" / "vendor"
    for name in ("twitter-text.min.js", "fflate.min.js", "entities.min.js"):
        assert (vendor / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_export_refuses_existing_and_bad_quantize(checkpoint, tmp_path):
    out = tmp_path / "web"
    export(checkpoint, out)
    with pytest.raises(BotError, match="already exists"):
        export(checkpoint, out)
    with pytest.raises(BotError, match="--quantize"):
        export(checkpoint, tmp_path / "other", quantize="int4")
    assert not (tmp_path / "other").exists()


def test_export_keeps_the_checkpoints_precision_unless_told(checkpoint, tmp_path):
    def stored(folder):
        specs = json.loads((folder / "model.json").read_text())["weightsManifest"][0]["weights"]
        return {spec.get("quantization", {}).get("dtype", "float32") for spec in specs}

    bundled = export(open_checkpoint(None), tmp_path / "bundled")
    assert bundled["quantize"] == "float16" and stored(tmp_path / "bundled") == {"float16"}
    assert export(checkpoint, tmp_path / "tiny")["quantize"] == "float32" and stored(tmp_path / "tiny") == {"float32"}
    wide = export(open_checkpoint(None), tmp_path / "wide", quantize="float32")
    assert wide["weights_bytes"] == 2 * bundled["weights_bytes"]


def start_server(folder):
    process = subprocess.Popen(
        [sys.executable, "-m", "twitterbot.cli", "serve", str(folder), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if not match:
        process.kill()
        raise AssertionError(line + process.communicate()[1])
    return process, match.group(0)


def stop_server(process):
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "stopped" in stdout


def test_serve_on_loopback_and_stop_on_ctrl_c(checkpoint, tmp_path):
    export(checkpoint, tmp_path / "web")
    process, url = start_server(tmp_path / "web")
    try:
        with urllib.request.urlopen(url + "model.json", timeout=10) as response:
            assert json.loads(response.read())["format"] == "layers-model"
        with urllib.request.urlopen(url + "vendor/tfjs-backend-wasm-simd.wasm", timeout=10) as response:
            assert response.headers["Content-Type"] == "application/wasm"
            assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    finally:
        stop_server(process)


def test_serve_refuses_a_folder_that_is_not_an_export(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "twitterbot.cli", "serve", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and "model.json is missing" in result.stderr


def account_archive(path: Path) -> Path:
    """An X archive's data/tweets.js of one account: a voice unlike the base model's corpus."""
    lines = [f"coffee first, then code #{i}" if i % 3 else f"RT @friend: morning {i}" for i in range(240)]
    tweets = [{"tweet": {"id_str": str(i), "full_text": text.replace("&", "&amp;")}} for i, text in enumerate(lines)]
    path.write_text("window.YTD.tweets.part0 = " + json.dumps(tweets, indent=2), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def page_run(checkpoint, tmp_path_factory):
    """One session of the page in headless Chromium (tests/js/browser.mjs drives it: write, type, copy,
    clear, fine-tune on an archive, save, reopen, stop), what it recorded, and its files; the tests below
    each check one behaviour of it."""
    tmp_path = tmp_path_factory.mktemp("page")
    export(checkpoint, tmp_path / "web", options=SampleOptions(max_len=120))
    process, url = start_server(tmp_path / "web")
    ARTIFACTS.mkdir(exist_ok=True)
    archive = account_archive(tmp_path / "tweets.js")
    try:
        node(
            "tests/js/browser.mjs", url, tmp_path / "page.json", ARTIFACTS / "page.png", 1, 3, archive, tmp_path,
            timeout=600,
        )  # fmt: skip
    finally:
        stop_server(process)
    return json.loads((tmp_path / "page.json").read_text()), archive, tmp_path


@pytest.mark.browser
def test_page_writes_tweets_in_chromium(page_run, checkpoint):
    page = page_run[0]
    assert page["errors"] == []
    assert page["backend"] == "wasm" and page["crossOriginIsolated"]
    assert len(page["texts"]) == 3
    allowed = set(checkpoint.vocab.chars)
    for text, count in zip(page["texts"], page["counts"], strict=True):
        assert 1 <= len(text) <= 120 and set(text) <= allowed
        assert count == f"{len(text)} / 280"
    assert (ARTIFACTS / "page.png").stat().st_size > 10_000
    assert page["writeLabel"] == "Write 3 tweets"


@pytest.mark.browser
def test_page_fits_a_phone_and_passes_the_accessibility_audit(page_run):
    page = page_run[0]
    assert not page["phoneOverflow"] and (ARTIFACTS / "page-390.png").stat().st_size > 10_000  # a 390 px phone
    assert [v for v in page["audit"] if v["impact"] in ("serious", "critical")] == [], page["audit"]


@pytest.mark.browser
def test_page_names_a_character_the_model_never_saw(page_run):
    unknown = page_run[0]["unknown"]  # named beside its field, and Write waits for it to go
    assert "never seen" in unknown["error"] and "☃" in unknown["error"]
    assert unknown["writeDisabled"] and unknown["invalid"] == "true" and not unknown["writeDisabledAfter"]


@pytest.mark.browser
def test_page_copies_the_tweet_shown_and_clears(page_run):
    page = page_run[0]
    copy = page["copy"]  # Copy copies exactly the tweet shown, says so, and goes back to Copy
    assert copy["label"] == "Copied" and copy["clipboard"] == copy["first"] and copy["labelLater"] == "Copy"
    assert page["cleared"] == {"tweets": 0, "status": "Cleared."}


@pytest.mark.browser
def test_page_refuses_a_bad_archive_with_the_line_and_reads_a_good_one(page_run):
    yours = page_run[0]["yours"]
    assert yours["badFile"] == {
        "error": "Could not read tweets.csv:2: malformed CSV (unexpected end of data)",
        "learnDisabled": True,
    }
    assert yours["summary"] == "160 tweets, 4,408 characters (left out: 80 retweets)."


@pytest.mark.browser
def test_page_learns_an_archives_voice_and_writes_with_it(page_run):
    yours = page_run[0]["yours"]
    progress = yours["progress"]
    assert any(line.startswith("Pass 1 of 1: batch") and "left." in line for line in progress), progress
    tuning = yours["tuning"]
    assert len(tuning["history"]) == 1 and tuning["after"] < tuning["before"], tuning
    assert yours["learned"].startswith("Done: it writes in your voice now")
    assert yours["newVoice"] and (ARTIFACTS / "page-yours.png").stat().st_size > 10_000


@pytest.mark.browser
def test_page_reopens_its_saved_voice_and_a_stop_keeps_the_writer(page_run):
    yours = page_run[0]["yours"]
    assert yours["reopened"] == "Opened my-voice.zip: it writes in that voice now."
    assert yours["stopped"] == "Stopped before a whole pass: the writer is as it was."


@pytest.mark.browser
def test_import_web_reads_the_pages_saved_voice(page_run, checkpoint):
    """`bot import-web` makes a checkpoint of the page's download, with the tweets it learned indexed and
    their words known, as `bot prepare` and `bot finetune` would have."""
    from twitterbot.corpus.prepare import prepare

    page, archive, tmp_path = page_run
    out = tmp_path / "mine"
    result = CliRunner().invoke(app, ["import-web", page["yours"]["saved"], "--out", str(out)])
    assert result.exit_code == 0, result.output
    mine = open_checkpoint(out)
    assert mine.config.learning_rate == pytest.approx(checkpoint.config.learning_rate / 10)
    prepare([str(archive)], tmp_path / "account", vocab=checkpoint.vocab)  # the page indexed the same tweets
    index, expected = mine.novelty(), np.load(tmp_path / "account" / "novelty.npz")
    assert index.tweets.tolist() == expected["tweets"].tolist()
    assert index.minima.tolist() == expected["minima"].tolist()
    account_words = open_data(tmp_path / "account").words()  # it knows the base's words and the account's
    assert account_words.words - checkpoint.words().words and mine.words() == checkpoint.words() | account_words


@pytest.mark.browser
def test_page_filters_match_bot_generates(checkpoint, corpus_file, tmp_path):
    from twitterbot.config import FilterOptions
    from twitterbot.corpus.clean import drop_debris
    from twitterbot.corpus.vocab import render
    from twitterbot.writing.filters import Filters, x_length

    blocklist = tmp_path / "blocked.txt"
    blocklist.write_text("# mine\nzorp\n/gl[aeiou]rb+/\n", encoding="utf-8")
    options = FilterOptions(blocklist=str(blocklist), overlap=0.5)
    out = tmp_path / "web"
    export(checkpoint, out, options=SampleOptions(mention="@me"), filters=options)
    assert (out / "novelty.bin").is_file()
    training = corpus_file.read_text(encoding="utf-8").splitlines()
    raws = [
        *training[:3],  # copies
        training[5] + " and then some more",  # a copied run
        training[5][:12] + " entirely new words to follow it",
        "hello there, a tweet never seen",
        "",
        "   ",
        "ha" * 20,
        f"{MENTION_TOKEN} {MENTION_TOKEN} {MENTION_TOKEN} hi",
        f"thanks {MENTION_TOKEN}!",
        "cc @someone",
        "cc @Me",
        "what the sh1t",
        "SH!T",
        "a zorp here",
        "glaaarbbb",
        "Scunthorpe class",
        "🎉" * 141,
        "".join(map(chr, range(0x4E00, 0x4E00 + 141))),
        f"see {URL_TOKEN} now",
        "\ue000",
        "👩\u200d💻 ok",
        "the cat sat on a glorp",  # one word the corpus never had: a name, slang
        "the glorp sat on a blimf",  # two
        "THE Glorp Sat on the Mat #blimf https://zzyzx.com/qwop @qwerty",  # tags, links, handles not judged
        "Ⅻabc naïve ΟΔΟΣ cat",
    ]
    filters = Filters(options, checkpoint.novelty(), "@me", words=checkpoint.words())
    candidates = [(raw, render(raw, mention="@me"), True) for raw in raws]
    candidates += [("waiting to be rea", "waiting to be rea", False), ("ha" * 20, "ha" * 20, False)]  # ran to max_len
    texts = [
        "hi 👍🏽 there ❤️",
        "日本語",
        "see https://example.com/a/b ok",
        "example.com",
        "a\ufe0f b",
        "1\ufe0f\u20e3 #️⃣",
        "👨‍👩‍👧 family",
        "café",
        "cafe\u0301",
        "™ ok",
        "x" * 300,
        "🏳️‍🌈 ok",
        "\u2018quotes\u2019 \u2026",
    ]
    debris = ["a\ufe0f b", "❤\ufe0f ok", "👨\u200d👩", "क्\u200dष", "x\u200b y", "1\ufe0f\u20e3", "\ufe0f", "a\u200d b"]
    cases = tmp_path / "cases.json"
    cases.write_text(
        json.dumps({"candidates": candidates, "lengths": texts, "debris": debris, "training": training}),
        encoding="utf-8",
    )
    node("tests/js/filters.mjs", out, cases, tmp_path / "page.json")
    page = json.loads((tmp_path / "page.json").read_text(encoding="utf-8"))
    assert page["rejections"] == [filters.rejection(*candidate) for candidate in candidates]
    reasons = {"copy", "copied run", "mention", "blocklist", "too long", "loop", "unfinished", "non-word", None}
    assert reasons <= set(page["rejections"])
    # twitter-text (JS, Twitter's own) and twitter-text-parser (Python) date from different emoji tables:
    # they differ on 38 of 9,670 symbol texts (© and ® alone; some emoji + U+FE0F), none of these.
    assert page["lengths"] == [x_length(text) for text in texts]
    assert page["debris"] == [drop_debris(text) for text in debris]
    index = checkpoint.novelty()  # what the page builds from the tweets it trains on, for its own filter
    assert page["built"] == {"tweets": [str(h) for h in index.tweets.tolist()], "minima": index.minima.tolist()}


@pytest.mark.browser
def test_page_renders_and_redraws_as_bot_generate(checkpoint, tmp_path):
    """generator.js's render (placeholders replaced or dropped) and mustRedraw (empty, loop, mention chain)
    against Python's on hand-made cases and 2,000 seeded random ones built of the pieces they look at."""
    from twitterbot.corpus.vocab import render
    from twitterbot.writing.filters import must_redraw

    export(checkpoint, tmp_path / "web")
    pieces = [MENTION_TOKEN, URL_TOKEN, " ", "  ", "\t", "\n", ":", ",", "!", "hi", "ha", "a", "@", "é", "🎉", "ab "]
    rng = np.random.default_rng(0)
    raws = ["".join(rng.choice(pieces, size=rng.integers(0, 40))) for _ in range(2000)]
    raws += [
        f"{MENTION_TOKEN} {MENTION_TOKEN}: hi",
        f"thanks {MENTION_TOKEN}!",
        f"  {MENTION_TOKEN},\t{URL_TOKEN} x\n{MENTION_TOKEN}: y",
        "ha" * 15,
        "ha" * 14 + "h",
        f"{MENTION_TOKEN} " * 5 + "yo",
        URL_TOKEN,
    ]
    replacements = [("", ""), ("https://x.test", "@me"), ("", "@me")]
    cases = [(raw, *replacements[i % 3]) for i, raw in enumerate(raws)]
    (tmp_path / "cases.json").write_text(json.dumps({"render": cases}), encoding="utf-8")
    node("tests/js/filters.mjs", tmp_path / "web", tmp_path / "cases.json", tmp_path / "page.json")
    page = json.loads((tmp_path / "page.json").read_text(encoding="utf-8"))["rendered"]
    expected = [[shown := render(raw, link, mention), must_redraw(raw, shown)] for raw, link, mention in cases]
    assert page == expected
    assert {redraw for _, redraw in expected} == {True, False} and sum(not shown for shown, _ in expected) > 10


@pytest.mark.browser
def test_page_sampler_rules_in_node():
    node("--test", "tests/js/draw.test.mjs")


def test_import_web_gives_back_the_checkpoint(checkpoint, tmp_path):
    export(checkpoint, tmp_path / "web")
    zipped = tmp_path / "my-voice.zip"
    with zipfile.ZipFile(zipped, "w") as archive:  # as the page's download: one folder inside
        for path in (tmp_path / "web").iterdir():
            if path.is_file():
                archive.write(path, f"my-voice/{path.name}")
    for source in (tmp_path / "web", zipped):
        out = tmp_path / f"back-{source.suffix or 'dir'}"
        result = CliRunner().invoke(app, ["import-web", str(source), "--out", str(out)])
        assert result.exit_code == 0, result.output
        back = open_checkpoint(out)
        assert back.config == checkpoint.config and back.vocab.chars == checkpoint.vocab.chars
        for a, b in zip(
            ModelWeights.read(back.weights, back.config).lstms[0],
            ModelWeights.read(checkpoint.weights, checkpoint.config).lstms[0],
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)
        assert back.novelty().tweets.tolist() == checkpoint.novelty().tweets.tolist()
        assert back.words() == checkpoint.words()
        for a, b in zip(back.start_state(), checkpoint.start_state(), strict=True):
            np.testing.assert_array_equal(a, b)
        generated = CliRunner().invoke(app, ["generate", str(out), "-n", "2", "--seed", "1"])
        assert generated.exit_code == 0, generated.output
    result = CliRunner().invoke(app, ["import-web", str(tmp_path / "web"), "--out", str(out)])
    assert result.exit_code == 1 and "already exists" in str(result.exception)


def test_import_web_names_what_is_wrong(checkpoint, tmp_path):
    web = tmp_path / "web"
    export(checkpoint, web)
    (web / "group1-shard1of1.bin").write_bytes(b"\0" * 10)
    with pytest.raises(BotError, match="shards end inside"):
        importweb.import_web(web, tmp_path / "a")
    with pytest.raises(BotError, match="no generation.json"):
        importweb.import_web(tmp_path, tmp_path / "b")
    with pytest.raises(BotError, match="not a model folder or a .zip"):
        (tmp_path / "x.zip").write_bytes(b"junk")
        importweb.import_web(tmp_path / "x.zip", tmp_path / "c")
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


def test_import_web_reads_nothing_past_what_a_file_can_hold(checkpoint, tmp_path):
    """Issue 28: members declaring gigabytes, a zip bomb, a sparse file, a FIFO, hostile JSON and a
    vocabulary generate would refuse: each one line, before anything large is read."""
    import os
    import resource

    web = tmp_path / "web"
    export(checkpoint, web)

    def zipped(name: str, replace: dict[str, bytes]) -> Path:
        path = tmp_path / f"{name}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in web.iterdir():
                if file.is_file() and file.suffix in (".json", ".bin", ".gz"):
                    archive.writestr(f"my-voice/{file.name}", replace.get(file.name, file.read_bytes()))
            for extra, data in replace.items():
                if not (web / extra).exists():
                    archive.writestr(f"my-voice/{extra}", data)
        return path

    shard = next(p.name for p in web.glob("group1-shard*"))
    read = lambda name: json.loads((web / name).read_text())  # noqa: E731
    dumped = lambda value: json.dumps(value).encode()  # noqa: E731
    generation, vocab, rules = read("generation.json"), read("vocab.json"), read("filters.json")
    deep_layers = {**generation, "config": {**generation["config"], "num_layers": 10**7}}
    quantized = read("model.json")
    quantized["weightsManifest"][0]["weights"][0]["quantization"] = 7  # not {"dtype": …}
    cases = [
        (zipped("bomb", {shard: b"\0" * (300 << 20)}), r"(a zip bomb|more than the model's)"),
        (zipped("unneeded", {"huge.bin": b"\0" * (300 << 20)}), None),  # a file it does not need: never read
        (zipped("deep", {"model.json": b"[" * 200_000}), r"model.json: not JSON"),
        (zipped("digits", {"generation.json": b'{"config": {"rnn_size": ' + b"9" * 5000 + b"}}"}), r"not JSON"),
        (zipped("layers", {"generation.json": dumped(deep_layers)}), r"--num-layers must be at most 64"),
        (
            zipped("newer", {"generation.json": dumped({**generation, "format_version": 2})}),
            r"generation.json: export format 2, this twitterbot reads 1: a newer twitterbot wrote it",
        ),
        (zipped("quant", {"model.json": dumped(quantized)}), r"model.json: unreadable weights"),
        (
            zipped("vocab", {"vocab.json": dumped({**vocab, "chars": ["ab", *vocab["chars"][1:]]})}),
            r"vocab.json: not a twitterbot vocabulary",
        ),
        (
            zipped("novelty", {"filters.json": dumped({**rules, "novelty": {"file": "novelty.bin", "tweets": "x"}})}),
            r"filters.json: not a description of a novelty index",
        ),
    ]
    sparse = tmp_path / "sparse"
    shutil.copytree(web, sparse)
    with open(sparse / "model.json", "r+b") as stream:
        stream.truncate(3 << 30)  # 3 GB that take no disk
    cases.append((sparse, r"model.json: 3,221,225,472 bytes, more than a JSON file of a model holds"))
    fifo = tmp_path / "fifo.zip"
    os.mkfifo(fifo)
    cases.append((fifo, r"not a regular file or folder"))
    for number, (source, message) in enumerate(cases):
        out = tmp_path / f"out{number}"
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if message is None:
            importweb.import_web(source, out)
            assert open_checkpoint(out).config == checkpoint.config
            continue
        with pytest.raises(BotError, match=message) as raised:
            importweb.import_web(source, out)
        assert "\n" not in str(raised.value) and len(str(raised.value)) < 400, raised.value
        assert not out.exists()
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
        assert grown < 200 << 20, (source.name, grown)  # never the gigabytes a member declares
