"""The data folder (`bot prepare`) and lane batching for a stateful RNN."""

import h5py
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from twitterbot.corpus import prepare as preparing
from twitterbot.corpus import sources
from twitterbot.corpus.batches import LaneBatches, lane_length, tweet_lanes
from twitterbot.corpus.datafolder import SPLITS, open_data, write_subset
from twitterbot.corpus.prepare import prepare
from twitterbot.corpus.vocab import EOT
from twitterbot.errors import BotError


@pytest.fixture
def tweets_file(tmp_path):
    lines = [f"tweet number {i} says hello #{i % 7}" for i in range(200)]
    lines += ["tweet number 3 says hello #3", "RT @x: copied", "   ", "fish &amp; chips 🐟"]
    path = tmp_path / "tweets.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_prepare_writes_folder_and_counts(tweets_file, tmp_path):
    summary = prepare([str(tweets_file)], tmp_path / "data")
    assert summary.files == {str(tweets_file): 204}
    assert dict(summary.dropped) == {"duplicate": 1, "retweet": 1, "empty": 1}
    assert summary.kept == 201
    assert sum(summary.tweets.values()) == 201
    assert summary.tweets["validate"] == summary.tweets["test"] == 10
    folder = open_data(tmp_path / "data")
    assert set(folder.lengths) == set(SPLITS)
    assert sum(folder.lengths.values()) == sum(summary.ids.values())
    assert (tmp_path / "data" / "prepare.json").is_file()


def test_split_is_tweet_level_and_seeded(tweets_file, tmp_path):
    prepare([str(tweets_file)], tmp_path / "a", seed=1, coverage=1.0)
    prepare([str(tweets_file)], tmp_path / "b", seed=1, coverage=1.0)
    prepare([str(tweets_file)], tmp_path / "c", seed=2, coverage=1.0)
    splits = {}
    for name in "abc":
        folder = open_data(tmp_path / name)
        with h5py.File(folder.path / "data.h5") as h5:
            splits[name] = {
                s: [folder.vocab.decode(t) for t in np.split(h5[s][:], np.flatnonzero(h5[s][:] == EOT) + 1) if len(t)]
                for s in SPLITS
            }
    tweets = {s: set(splits["a"][s]) for s in SPLITS}
    assert not tweets["train"] & tweets["validate"] and not tweets["train"] & tweets["test"]
    assert not tweets["validate"] & tweets["test"]
    assert "fish & chips 🐟" in set().union(*tweets.values())
    assert splits["a"] == splits["b"] and splits["a"] != splits["c"]


def test_prepare_refuses_existing_and_empty(tweets_file, tmp_path):
    prepare([str(tweets_file)], tmp_path / "data")
    before = (tmp_path / "data" / "data.h5").read_bytes()
    with pytest.raises(BotError, match="already exists"):
        prepare([str(tweets_file)], tmp_path / "data")
    empty = tmp_path / "rt.txt"
    empty.write_text("RT @a: x\n\n")
    with pytest.raises(BotError, match="no tweets left"):
        prepare([str(empty)], tmp_path / "data", force=True)
    assert (tmp_path / "data" / "data.h5").read_bytes() == before  # the failed run changed nothing


def test_prepare_with_given_vocab_maps_unknown(tweets_file, tmp_path):
    prepare([str(tweets_file)], tmp_path / "base")
    base = open_data(tmp_path / "base")
    other = tmp_path / "other.txt"
    other.write_text("hello ☃ snowman\nagain hello\nthird hello\n")
    summary = prepare([str(other)], tmp_path / "other", vocab=base.vocab)
    assert open_data(tmp_path / "other").vocab.hash == base.vocab.hash
    assert summary.unknown_chars >= 1


def test_worker_processes_write_the_same_data(tweets_file, tmp_path, monkeypatch):
    """Big inputs are cleaned on worker processes: the result must not depend on it."""
    text = tweets_file.read_text(encoding="utf-8")
    tweets_file.write_text(text * 30 + "fish &amp; chips\r\n" * 3 + "tab\there\n", encoding="utf-8")
    monkeypatch.setattr(sources, "_CHUNK_BYTES", 4096)  # many blocks, so the workers share the file
    one = prepare([str(tweets_file)], tmp_path / "one")
    monkeypatch.setattr(preparing, "_PARALLEL_BYTES", 0)
    many = prepare([str(tweets_file)], tmp_path / "many")
    assert one.to_dict() == many.to_dict()
    assert many.kept == 203 and many.dropped == {"duplicate": 30 * 204 + 4 - 60 - 203, "retweet": 30, "empty": 30}
    with h5py.File(tmp_path / "one" / "data.h5") as one, h5py.File(tmp_path / "many" / "data.h5") as many:
        for name in SPLITS:
            np.testing.assert_array_equal(one[name][:], many[name][:])


def test_open_data_names_missing_piece(tmp_path):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "data.h5").write_bytes(b"")
    with pytest.raises(BotError, match="vocab.json is missing"):
        open_data(tmp_path / "half")


@settings(max_examples=200, deadline=None)
@given(length=st.integers(2, 3000), batch_size=st.integers(1, 17), seq_len=st.integers(1, 40))
def test_lanes_continue_exactly_across_batches(length, batch_size, seq_len):
    stream = np.arange(length, dtype=np.int64)
    if lane_length(length, batch_size, seq_len) == 0:
        with pytest.raises(BotError, match="fewer than one batch"):
            LaneBatches(stream, batch_size, seq_len)
        return
    batches = LaneBatches(stream, batch_size, seq_len)
    lane_len = batches.lane_len
    seen = []
    previous = None
    for index in range(len(batches)):
        x, y = batches[index]
        assert x.shape == y.shape == (batch_size, seq_len)
        np.testing.assert_array_equal(y, x + 1)  # targets are the next character
        if previous is not None:
            np.testing.assert_array_equal(x[:, 0], previous[:, -1] + 1)  # lane b picks up where it stopped
        previous = x
        seen.append(x)
    covered = np.concatenate(seen, axis=1)  # lane b, all windows in order
    np.testing.assert_array_equal(covered, np.arange(batch_size * lane_len).reshape(batch_size, lane_len))
    assert length - 1 - batch_size * lane_len < batch_size * seq_len  # only a final remainder is left out
    with pytest.raises(IndexError):
        batches[len(batches)]


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 60), min_size=1, max_size=150),
    batch_size=st.integers(1, 9),
    seq_len=st.integers(1, 12),
)
def test_loss_lanes_start_at_tweets(lengths, batch_size, seq_len):
    """Validation and test lanes start at a tweet (the first, or an <eot> the lane is fed first), never
    overlap, and keep at least half the characters; with too few tweets they tile the stream as before."""
    stream = np.concatenate([[*range(2, 2 + length), EOT] for length in lengths])
    assume(lane_length(len(stream), batch_size, seq_len) > 0)
    aligned = tweet_lanes(stream, batch_size, seq_len)
    batches = LaneBatches(stream, batch_size, seq_len, at_tweets=True)
    plain = LaneBatches(stream, batch_size, seq_len)
    if aligned is None:
        assert batches.lane_len == plain.lane_len and (batches.starts == plain.starts).all()
        return
    starts, lane_len = aligned
    assert starts[0] == 0 and (stream[starts[1:]] == EOT).all()
    assert lane_len % seq_len == 0 and lane_len >= max(seq_len, plain.lane_len // 2)
    assert (starts[1:] >= starts[:-1] + lane_len).all() and starts[-1] + lane_len < len(stream)
    lanes = np.concatenate([batches[index][0] for index in range(len(batches))], axis=1)
    np.testing.assert_array_equal(lanes, np.stack([stream[start : start + lane_len] for start in starts]))


def test_a_subset_is_a_data_folder_of_the_first_characters(data_folder, tmp_path):
    """What `bot search --subset N` trains on, written by the data folder's owner."""
    data = open_data(data_folder)
    subset = open_data(write_subset(data, tmp_path / "subset", 2_000))
    assert subset.vocab.hash == data.vocab.hash
    assert subset.lengths["train"] == 2_000
    for name in SPLITS:
        head = data.split(name)[: subset.lengths[name]]
        assert (subset.split(name)[:] == head).all() and subset.lengths[name] <= data.lengths[name]
    before = (tmp_path / "subset" / "data.h5").stat().st_mtime_ns
    write_subset(data, tmp_path / "subset", 5_000)  # a resumed search keeps the one it trained on
    assert (tmp_path / "subset" / "data.h5").stat().st_mtime_ns == before
