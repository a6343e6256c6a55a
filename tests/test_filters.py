"""What may be shown: no placeholder ever, no loop or mention chain (the sampler redraws those)."""

import gzip
import re
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twitter_text import parse_tweet

from twitterbot.config import FilterOptions, SampleOptions
from twitterbot.corpus.novelty import GRAM, SHORTEST, WINDOW, NoveltyIndex, _chosen, _code_points, _gram_hashes
from twitterbot.corpus.prepare import prepare
from twitterbot.corpus.vocab import MENTION_TOKEN, URL_TOKEN
from twitterbot.corpus.words import WordSet, words_in
from twitterbot.errors import BotError
from twitterbot.social.post import BlueskyDestination, MastodonDestination, XDestination
from twitterbot.training.checkpoint import open_checkpoint
from twitterbot.training.train import train
from twitterbot.writing.filters import Filters, degeneracy, has_loop, length_bound, must_redraw, x_length
from twitterbot.writing.sample import REDRAWS, Sampler, generate

M = MENTION_TOKEN


def test_degenerate_tweets_are_named():
    assert degeneracy("ha" * 15) == "loop"
    assert degeneracy("x" + "!" * 30) == "loop"
    assert degeneracy("@user @user @user wow") == "mention chain"
    assert degeneracy(f"{M} {M}{M} wow") == "mention chain"
    assert degeneracy("sooooooo good") == "run"
    assert degeneracy("  ") == "empty"
    assert degeneracy(f"{M} {M} thanks, see you at 5") is None
    assert not has_loop("ha" * 14)  # 28 characters: laughter, not yet a loop


def test_the_sampler_redraws_only_what_must_not_be_shown(monkeypatch):
    assert must_redraw(f"{M} {URL_TOKEN}", "")  # nothing left once placeholders are dropped
    assert not must_redraw("sooooooo good", "sooooooo good")  # people write that
    draws = iter([[("ha" * 20, False), ("first", True)], [(f"{M} {M} {M} hi", True), ("second", True)]])
    monkeypatch.setattr(Sampler, "_draw", lambda self, count, options, rng: next(draws))
    sampler = Sampler.__new__(Sampler)
    sampler.vocab = type("V", (), {"unknown": staticmethod(lambda text: [])})()
    assert sampler.sample(2, SampleOptions()) == ["first", "second"]
    stuck = iter([[("ha" * 20, False), ("ok", True)]] * (REDRAWS + 1))
    monkeypatch.setattr(Sampler, "_draw", lambda self, count, options, rng: next(stuck))
    assert sampler.sample(2, SampleOptions()) == ["ok", "ok"]  # the guard gives up after REDRAWS, never loops forever


@pytest.fixture(scope="module")
def chatty(tmp_path_factory, tiny_config):
    """A tiny model of tweets full of @mentions and links."""
    folder = tmp_path_factory.mktemp("chatty")
    lines = [f"@friend{i % 7} look at #{i} https://t.co/x{i} so good @pal{i % 3}" for i in range(300)]
    (folder / "tweets.txt").write_text("\n".join(lines) + "\n")
    prepare([str(folder / "tweets.txt")], folder / "data", coverage=1.0)
    train(folder / "data", folder / "ckpt", tiny_config)
    return open_checkpoint(folder / "ckpt")


def test_no_placeholder_ever_shows(chatty):
    sampler = Sampler(chatty)
    for temperature in (0.3, 0.8, 1.2):
        for tweet in sampler.sample(12, SampleOptions(temperature=temperature, seed=1)):
            assert not {URL_TOKEN, M, "\ufffd"} & set(tweet) and "<url>" not in tweet and "@" not in tweet, tweet
            assert tweet and not must_redraw(tweet, tweet)
    given = sampler.sample(12, SampleOptions(seed=1, link="https://example.org", mention="@mybot"))
    assert any("@mybot" in t for t in given) and any("https://example.org" in t for t in given)
    assert all(word == "@mybot" for t in given for word in t.split() if word.startswith("@"))


def test_link_and_mention_must_be_what_they_say():
    with pytest.raises(BotError, match="--mention must be one @handle"):
        SampleOptions(mention="@two handles")
    with pytest.raises(BotError, match="--link must be a web address"):
        SampleOptions(link="example.org")


# --- Filters: what may be shown or posted -----------------------------------------------------------------------


TRAINING = [
    "the cat sat on the mat and looked at the dog for a long time",
    "a completely different tweet about the weather in paris today",
    f"{M} thanks for the link {URL_TOKEN} it was great",
    "every morning I walk down to the river with my old dog and we watch the boats go by until the sun is up",
]
LONG_RUN = TRAINING[3][:90]  # 90 characters: past --max-run (80), a copy in a tweet of any length
CJK = "".join(chr(0x4E00 + i) for i in range(141))  # each counts 2 on X
REASONS = {
    *("empty", "loop", "mention chain", "unfinished", "placeholder", "mention", "too long", "copy", "copied run"),
    *("blocklist", "non-word"),
}


def index_of(tweets, compact=False):
    points = [_code_points(t) for t in tweets]
    return NoveltyIndex.build([(np.concatenate(points), np.array([len(p) for p in points]))], compact=compact)


def test_each_filter_names_its_reason(tmp_path):
    blocklist = tmp_path / "mine.txt"
    blocklist.write_text("# my words\nbroccoli\n/spin+ach/\n")
    filters = Filters(FilterOptions(blocklist=str(blocklist)), index_of(TRAINING), mention="@mybot")
    cases = {
        "": "empty",
        "ha" * 20: "loop",
        f"{M} {M} {M} hi": "mention chain",
        f"left {URL_TOKEN} in": "placeholder",
        "hello @bob how are you": "mention",
        CJK[:141]: "too long",
        TRAINING[0]: "copy",
        "The cat sat on the mat and looked at the dog for a long time": "copied run",  # 55 of 60 measured: ≥ 90 %
        "so the cat sat on the mat and looked at the dog": None,  # 36 of 47 measured: a phrase, not a copy
        f"honestly, {LONG_RUN}, and then a great many more words of my own about other things that day": "copied run",
        "you are a b1tch": "blocklist",
        "what a @$$hole": "blocklist",
        "I hate broccoli": "blocklist",
        "spinnnach again": "blocklist",
        "a new tweet about a class in Scunthorpe": None,
        "hello @mybot": None,  # the handle the user chose for the mention placeholder
        CJK[:140]: None,
    }
    for text, reason in cases.items():
        assert filters.rejection(text, text) == reason, (text, filters.rejection(text, text))
    assert Filters(FilterOptions(allow_mentions=True)).rejection("hello @bob", "hello @bob") is None
    # a tweet the model did not end (it ran to --max-len) is never shown cut; a loop is named as a loop
    assert filters.rejection("waiting to be rea", "waiting to be rea", ended=False) == "unfinished"
    assert filters.rejection("ha" * 20, "ha" * 20, ended=False) == "loop"
    assert x_length("see https://example.com/a/very/long/address/that/goes/on 🐟") == 23 + 4 + 1 + 2


@pytest.mark.parametrize(
    "line, problem",
    [
        ("/(?i)foo/", "no inline flags or names"),
        ("/(?P<x>foo)/", "no inline flags or names"),
        (r"/foo\:bar/", r"the escape \:"),
        ("/a++/", "possessive quantifier"),
        (r"/(a)\1/", r"the escape \1"),
        ("/(unclosed/", "not a regular expression"),
    ],
)
def test_a_pattern_the_page_could_not_run_is_refused_where_it_is_read(tmp_path, line, problem):
    blocklist = tmp_path / "mine.txt"
    blocklist.write_text(f"# mine\nbroccoli\n{line}\n")
    with pytest.raises(BotError, match=rf"mine.txt:3: /.*/ cannot be used: .*{re.escape(problem)}") as raised:
        Filters(FilterOptions(blocklist=str(blocklist)))
    assert "\n" not in str(raised.value)


def test_a_pattern_that_backtracks_without_end_is_stopped(tmp_path):
    blocklist = tmp_path / "mine.txt"
    blocklist.write_text("/(a|aa)+$/\n/(x+x+)+y/\n")
    filters = Filters(FilterOptions(blocklist=str(blocklist)))
    assert filters.blocked.matches("xx" * 20) is False  # the regex module cuts this one short itself
    started = time.perf_counter()
    with pytest.raises(BotError, match=r"mine.txt:1: /\(a\|aa\)\+\$/ took over 0.2 s on one tweet"):
        filters.blocked.matches("a" * 60 + "b")
    assert time.perf_counter() - started < 5


def test_a_tweet_reads_as_words_the_corpus_had():
    known = WordSet.of(TRAINING)
    assert words_in("Sat ON the mat, see https://t.co/Zq and @bobby #blessed ok 2nd") == [
        "sat",
        "the",
        "mat",
        "see",
        "and",
    ]
    filters = Filters(FilterOptions(), words=known)
    assert filters.rejection("The CAT walked, a dog at the river!", "The CAT walked, a dog at the river!") is None
    assert filters.rejection("the glorp sat by the river", "the glorp sat by the river") is None  # one: a name, slang
    assert filters.rejection("the glorp sat by the blimf", "the glorp sat by the blimf") == "non-word"
    assert filters.rejection("the river #glorp #blimf", "the river #glorp #blimf") is None  # tags are not judged
    long = "the cat sat on the mat and looked at the dog for a long time by the river and the boats today"
    long += " glorp blimf zzyzx"
    assert len(words_in(long)) == 21 and filters.rejection(long, long) is None  # 3 in 21: within 15 %
    assert filters.rejection(long + " qwop", long + " qwop") == "non-word"  # 4 in 22
    lenient, off = (Filters(FilterOptions(non_words=share), words=known) for share in (0.5, -1))
    assert lenient.rejection("the glorp sat by the blimf", "the glorp sat by the blimf") is None
    assert off.rejection("glorp blimf zzyzx qwop", "glorp blimf zzyzx qwop") is None
    assert Filters(FilterOptions()).rejection("glorp blimf", "glorp blimf") is None  # no word list: not checked
    with pytest.raises(BotError, match="--non-words"):
        FilterOptions(non_words=float("nan"))


def test_a_word_list_round_trips_and_refuses_what_is_not_one(tmp_path):
    words = WordSet.of(TRAINING)
    words.save(tmp_path / "words.txt.gz")
    assert WordSet.load(tmp_path / "words.txt.gz") == words
    assert words.to_bytes() == WordSet(frozenset(sorted(words.words, reverse=True))).to_bytes()  # no timestamp
    (tmp_path / "bad.gz").write_bytes(b"not gzip")
    with pytest.raises(BotError, match="bad.gz: not a gzip word list"):
        WordSet.load(tmp_path / "bad.gz")
    (tmp_path / "upper.gz").write_bytes(gzip.compress(b"fine\nNot"))
    with pytest.raises(BotError, match="upper.gz: not a twitterbot word list"):
        WordSet.load(tmp_path / "upper.gz")


PIECES = st.sampled_from(
    ["a.co", "x.com/a", "é", "e\u0301", "क़", "中文", "—", "Ω", "ｗ", "🐟", "👩‍👩‍👧", "©", "1\ufe0f\u20e3", "’", "…",
     "...", "3.5", " ", ".", "a", "word", "https://t.co/z", "http://a.b", "http://localhost", "例子.中国", "\u200d",
     "\r\n"]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(PIECES | st.text(max_size=5), max_size=80))
def test_x_length_without_twitter_text_is_exact(pieces):
    """The count of plain texts made without twitter-text is twitter-text's (short links, CJK, emoji, NFC),
    and no destination counts a text above the bound the filters check first."""
    text = "".join(pieces)
    assert x_length(text) == parse_tweet(text).weightedLength
    for destination in (XDestination, MastodonDestination, BlueskyDestination):  # the quick check's bound
        assert destination.length(text) <= length_bound(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_every_text_passes_or_gets_a_named_reason(text):
    assert Filters(FilterOptions(), index_of(TRAINING)).rejection(text, text) in REASONS | {None}


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_long_enough_run_of_a_training_tweet_is_found(data):
    tweet = data.draw(st.sampled_from([tweet for tweet in TRAINING if len(tweet) >= 2 * SHORTEST]))
    start = data.draw(st.integers(0, len(tweet) - 2 * SHORTEST))
    end = data.draw(st.integers(start + 2 * SHORTEST, len(tweet)))
    padding = data.draw(st.text(alphabet="xyz ", max_size=20))
    index = index_of(TRAINING)
    assert index.longest_shared(padding + tweet[start:end] + padding) >= end - start - 2 * (WINDOW - 1)
    assert index.is_copy(tweet) and not index.is_copy(tweet + "!")


def test_an_index_keeps_its_gram_size_and_reads_older_ones(tmp_path):
    """An index says its n-gram size; one written before that (10-grams) is read as such, not misread."""
    index = index_of(TRAINING)
    index.save(tmp_path / "new.npz")
    loaded = NoveltyIndex.load(tmp_path / "new.npz")
    assert loaded.minima.tolist() == index.minima.tolist() and (loaded.gram, loaded.window) == (GRAM, WINDOW)
    points = [_code_points(t).astype(np.uint64) for t in TRAINING]
    separated = np.concatenate([np.append(p, np.uint64(0)) for p in points])[:-1]
    grams = _gram_hashes(separated, 10)
    np.savez(tmp_path / "old.npz", tweets=index.tweets, minima=np.unique(grams[_chosen(grams, 6)]))  # as written before
    old = NoveltyIndex.load(tmp_path / "old.npz")
    assert (old.gram, old.window) == (10, 6) and old.longest_shared("so " + TRAINING[3][:60] + " then") >= 60 - 10


def test_a_compact_index_keeps_repeated_grams_and_short_tweets():
    repeated = "the same long phrase that many people wrote in their tweets"
    tweets = [f"{repeated} number {i}" for i in range(3)] + [
        "a one-off tweet about my own cat and its long day",
        "hi there",
    ]
    full, compact = index_of(tweets), index_of(tweets, compact=True)
    assert compact.compact and len(compact.minima) < len(full.minima) and len(compact.tweets) == 1  # "hi there"
    assert compact.is_copy("hi there") and not compact.is_copy(tweets[3])
    assert compact.longest_shared(f"so {repeated}") == full.longest_shared(f"so {repeated}") >= len(repeated) - 10
    assert compact.longest_shared(tweets[3]) == 0 < full.longest_shared(tweets[3])


def test_generate_shows_only_what_passes_and_counts_the_rest(data_folder, trained_checkpoint):
    """A tiny model of a few phrases writes its training tweets back: the novelty filter rejects them."""
    ckpt = open_checkpoint(trained_checkpoint)
    assert (data_folder / "novelty.npz").is_file() and ckpt.novelty() is not None
    tweets = generate(ckpt, 8, SampleOptions(temperature=0.3, seed=1), Filters(FilterOptions(), ckpt.novelty()))
    shown = list(tweets)
    assert tweets.drawn == tweets.passed + sum(tweets.rejected.values())
    assert tweets.rejected["copy"] + tweets.rejected["copied run"] > 0  # it does write its training tweets
    assert all(not ckpt.novelty().is_copy(t) for t in shown)
    assert tweets.report().startswith(f"{tweets.passed} of {tweets.drawn} candidates passed the filters")
    assert "(words not checked: the checkpoint has no index of them)" in tweets.report()
    tweets.count = tweets.passed  # as many as were asked for: fine; one more: a failure that says so
    tweets.require_all()
    tweets.count += 1
    with pytest.raises(BotError, match=rf"only {tweets.passed} of {tweets.count} tweets passed the filters in"):
        tweets.require_all()
