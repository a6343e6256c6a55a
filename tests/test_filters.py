"""What may be shown: no placeholder ever, no loop or mention chain (the sampler redraws those)."""

import pytest

from twitterbot.checkpoint import open_checkpoint
from twitterbot.config import SampleOptions
from twitterbot.data import prepare
from twitterbot.errors import BotError
from twitterbot.filters import degeneracy, has_loop, must_redraw
from twitterbot.sample import REDRAWS, Sampler
from twitterbot.train import train
from twitterbot.vocab import MENTION_TOKEN, URL_TOKEN

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
    draws = iter([["ha" * 20, "first"], [f"{M} {M} {M} hi", "second"]])
    monkeypatch.setattr(Sampler, "_draw", lambda self, count, options, rng: next(draws))
    sampler = Sampler.__new__(Sampler)
    sampler.vocab = type("V", (), {"unknown": staticmethod(lambda text: [])})()
    assert sampler.sample(2, SampleOptions()) == ["first", "second"]
    stuck = iter([["ha" * 20, "ok"]] * (REDRAWS + 1))
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
