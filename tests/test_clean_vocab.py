"""Cleaning rules and the vocabulary: each switch does what it says, encode→decode round-trips."""

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twitterbot.corpus.clean import CleanOptions, clean_batch, clean_lines, clean_tweet
from twitterbot.corpus.vocab import EOT, MENTION_TOKEN, UNK, URL_TOKEN, Vocab, code_points, render
from twitterbot.errors import BotError


def test_default_cleaning():
    text, reason = clean_tweet("  Fish &amp; chips\r\nhttps://t.co/abc123 @someone\x07\t!  ", CleanOptions())
    assert reason is None
    assert text == f"Fish & chips\n{URL_TOKEN} {MENTION_TOKEN} !"
    assert render(text) == "Fish & chips\n!"
    assert render(text, link="https://example.org", mention="@me") == "Fish & chips\nhttps://example.org @me !"


def test_a_replys_leading_handles_are_stripped():
    """X shows a reply's leading @handles apart from its text; kept in, they taught the model chains of them."""
    assert clean_tweet("@bob @carol_2\n@dan thanks, all!", CleanOptions()) == ("thanks, all!", None)
    assert clean_tweet("@bob @carol", CleanOptions()) == ("", "empty")
    assert clean_tweet("@bob's cat", CleanOptions())[0] == f"{MENTION_TOKEN}'s cat"  # not a reply's handle
    assert clean_tweet("hi @bob", CleanOptions())[0] == f"hi {MENTION_TOKEN}"
    assert clean_tweet("@bob hi", CleanOptions(replies="keep"))[0] == f"{MENTION_TOKEN} hi"
    assert clean_tweet("@bob hi", CleanOptions(mentions="keep"))[0] == "hi"
    texts = ["@bob hi", "@bob @carol", "x @bob"]
    assert clean_batch(texts, CleanOptions()) == (["hi", f"x {MENTION_TOKEN}"], Counter(empty=1))
    assert clean_lines("\n".join(texts), CleanOptions()) == clean_batch(texts, CleanOptions())
    with pytest.raises(BotError, match="--replies must be one of strip, keep"):
        CleanOptions(replies="drop")


def test_switches():
    raw = "RT @bob: e\u0301 &lt;3 https://t.co/x @alice\x01"
    assert clean_tweet(raw, CleanOptions())[1] == "retweet"
    kept = CleanOptions(
        retweets="keep", links="drop", mentions="drop", unescape_html=False, normalize=False, strip_control=False
    )
    assert clean_tweet(raw, kept) == ("RT : e\u0301 &lt;3  \x01", None)
    assert clean_tweet(raw, CleanOptions(retweets="keep", mentions="keep"))[0].startswith("RT @bob: ")
    nfc = CleanOptions(retweets="keep", links="keep", mentions="keep")
    assert clean_tweet(raw, nfc)[0] == "RT @bob: \u00e9 <3 https://t.co/x @alice"


def test_empty_after_cleaning_and_bad_option():
    assert clean_tweet(" https://t.co/x ", CleanOptions(links="drop"))[1] == "empty"
    with pytest.raises(BotError, match="--links"):
        CleanOptions(links="shorten")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from([*"aRT @_:/&;#x\r\n\t\u0301e\ue001\x01 \ufe0f\u200d\u200b\u2764", "https://", "&#57345;"])
        ).map("".join)
    ),
    st.sampled_from(
        [CleanOptions(), CleanOptions(retweets="keep", links="drop", mentions="keep", debris=False, normalize=False)]
    ),
)
def test_batch_cleaning_matches_one_by_one(texts, options):
    expected = [clean_tweet(text, options) for text in texts]
    kept, dropped = clean_batch(texts, options)
    assert kept == [text for text, reason in expected if reason is None]
    assert dropped == Counter(reason for _, reason in expected if reason)
    lines = [text.replace("\n", " ") for text in texts] or [""]  # a text file's lines
    kept, dropped = clean_lines("\n".join(lines), options)
    assert kept == [text for text, reason in (clean_tweet(line, options) for line in lines) if reason is None]


def test_debris_goes_emoji_stay():
    """Emoji parts whose emoji is gone (TweetEval stripped its emoji, leaving U+FE0F) and zero-width characters."""
    cases = {
        "Sunset \ufe0f @ Beach": "Sunset  @ Beach",
        "word\ufe0f": "word",
        "zero\u200bwidth\ufeff": "zerowidth",
        "\u200d alone": "alone",
        "I \u2764\ufe0f it": "I \u2764\ufe0f it",
        "1\ufe0f\u20e3 first": "1\ufe0f\u20e3 first",
        "family \U0001f468\u200d\U0001f469\u200d\U0001f467": "family \U0001f468\u200d\U0001f469\u200d\U0001f467",
        "\u0915\u094d\u200d\u0937": "\u0915\u094d\u200d\u0937",  # a joiner inside a Devanagari word stays
    }
    for raw, expected in cases.items():
        assert clean_tweet(raw, CleanOptions())[0] == expected, raw
    assert clean_tweet("word\ufe0f", CleanOptions(debris=False))[0] == "word\ufe0f"


def test_render_never_shows_a_placeholder():
    m, u = MENTION_TOKEN, URL_TOKEN
    assert render(f"{m} {m} so true {u}") == "so true"
    assert render(f"{m}: quoted {m}, ok") == "quoted, ok"
    assert render(f"thanks {m}! see {u} and {m}") == "thanks! see and"
    assert render(f"line one\n{m} line two") == "line one\nline two"
    assert render(f"{m} hi {u}", link="https://x.org", mention="@me") == "@me hi https://x.org"


def test_lone_surrogates_removed():
    assert clean_tweet("a\ud83db", CleanOptions()) == ("ab", None)


def counts_of(text):
    return np.bincount(code_points(text), minlength=0x110000)


def test_vocab_orders_by_frequency_and_caps_by_coverage():
    vocab = Vocab.from_counts(counts_of("aaaaaaaabbbbc" * 10), coverage=0.9)
    assert vocab.chars == ["a", "b"]  # a+b cover 12/13 ≥ 0.9
    assert vocab.encode("abc").tolist() == [2, 3, UNK]
    assert vocab.size == 4 and EOT == 0


def test_vocab_save_load_and_hash(tmp_path):
    vocab = Vocab.from_counts(counts_of("héllo wörld 🐟🐟"), coverage=1.0)
    vocab.save(tmp_path / "vocab.json")
    again = Vocab.load(tmp_path / "vocab.json")
    assert again.chars == vocab.chars and again.hash == vocab.hash
    (tmp_path / "bad.json").write_text('{"chars": 3}')
    with pytest.raises(BotError, match="bad.json"):
        Vocab.load(tmp_path / "bad.json")


@given(st.text(min_size=1))
def test_encode_decode_round_trip(text):
    vocab = Vocab.from_counts(counts_of(text), coverage=1.0)
    ids = vocab.encode(text)
    assert ids.dtype == np.uint16 and len(ids) == len(text)
    assert UNK not in ids and EOT not in ids
    assert vocab.decode(ids) == text
