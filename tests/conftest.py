"""Shared fixtures: a learnable tiny corpus and a tiny model configuration that trains in seconds."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

from twitterbot.config import Config  # noqa: E402

PHRASES = ["the cat sat on the mat", "a dog ate my hat", "we love tiny tests", "hello world, hello bot"]


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory):
    """A few hundred tweets made of a handful of phrases: a pattern a tiny LSTM learns in two epochs."""
    path = tmp_path_factory.mktemp("corpus") / "tweets.txt"
    lines = [f"{PHRASES[i % 4]} {PHRASES[(i * 3 + 1) % 4]} #{i}" for i in range(400)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def data_folder(corpus_file, tmp_path_factory):
    from twitterbot.data import prepare

    out = tmp_path_factory.mktemp("data") / "tiny"
    prepare([str(corpus_file)], out, coverage=1.0)
    return out


@pytest.fixture(scope="session")
def tiny_config():
    return Config(
        embedding_size=8, rnn_size=32, batch_size=4, seq_len=16, num_epochs=2, drop_rate=0.0, learning_rate=0.01, seed=3
    )
