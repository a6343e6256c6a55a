"""Cleaning rules for one tweet, each switchable, applied before the vocabulary sees any text."""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal, get_args

import numpy as np

from twitterbot.config import setting
from twitterbot.corpus.vocab import MENTION_TOKEN, URL_TOKEN
from twitterbot.errors import BotError

Retweets = Literal["drop", "keep"]
Links = Literal["token", "drop", "keep"]
Mentions = Literal["token", "drop", "keep"]
Replies = Literal["strip", "keep"]

_LINK = re.compile(r"https?://\S+")
_MENTION = re.compile(r"(?<![\w@])@\w{1,15}\b")
# A reply's leading @handles, as the mention rule left them: X shows them apart from the text (its archive's
# display_text_range leaves them out), and kept in they taught the model chains of handles (issue 27).
_REPLY_PREFIX = re.compile(rf"^(?:(?:@\w{{1,15}}|{MENTION_TOKEN})(?:\s+|$))+")
_RETWEET = re.compile(rf"^RT (?:@\w|{MENTION_TOKEN}|:)")  # the handle as kept, made a token, or dropped
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Category Cc but tab and newline, and lone surrogates (JSON escapes make them; no encoding takes them).
_CONTROL_OR_SURROGATE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
# Debris: invisible characters that never carry meaning in a tweet, and the parts of emoji sequences
# (variation selectors, zero-width joiner, keycap) whose emoji is gone, e.g. stripped by a corpus.
_INVISIBLE = re.compile("[\u200b\u2060\ufeff\u180e]")
_EMOJI_PART = re.compile("[\ufe0e\ufe0f\u200d\u20e3]")
_TAKES_EMOJI_PART = frozenset("#*0123456789\u203c\u2049\u3030\u303d\ufe0f\u20e3")
# Joins a batch: a private-use character (tweets that hold it are cleaned one by one) between line breaks,
# which no rule crosses.
_MARK = "\ue001"
_SEPARATOR = f"\n{_MARK}\n"


@dataclass(frozen=True)
class CleanOptions:
    """Which cleaning steps `bot prepare` applies; saved in prepare.json."""

    unescape_html: bool = setting(True, "unescape HTML entities (&amp; → &)", "--html/--no-html")
    retweets: Retweets = setting("drop", "drop or keep retweets (RT @…)")
    links: Links = setting("token", "token: one placeholder per link; drop; keep")
    mentions: Mentions = setting(  # a bot must not tag real people, so each handle becomes one placeholder
        "token", "token: each @handle becomes a placeholder, never shown (no tagging); drop; keep"
    )
    replies: Replies = setting(  # strip: a reply's leading @handles go, the text people read stays
        "strip", "strip: drop a reply's leading @handles (X shows them apart); keep"
    )
    debris: bool = setting(True, "drop zero-width characters and emoji parts without emoji", "--debris/--keep-debris")
    normalize: bool = setting(True, "normalise Unicode to NFC", "--nfc/--no-nfc")
    strip_control: bool = setting(True, "strip control characters", "--strip-control/--keep-control")
    dedupe: bool = setting(True, "drop exact duplicate tweets", "--dedupe/--keep-duplicates")

    def __post_init__(self) -> None:
        for name, choices in (("retweets", Retweets), ("links", Links), ("mentions", Mentions), ("replies", Replies)):
            allowed = get_args(choices)
            if getattr(self, name) not in allowed:
                raise BotError(f"--{name} must be one of {', '.join(allowed)} (got {getattr(self, name)!r})")

    def to_dict(self) -> dict:
        return asdict(self)


def clean_tweet(text: str, options: CleanOptions) -> tuple[str, str | None]:
    """The cleaned text and, when the tweet is to be dropped, why ('empty' or 'retweet')."""
    text = _char_rules(_normalize(_entity_rules(text, options), options), options).strip()
    return _verdict(_without_reply_prefix(text) if options.replies == "strip" else text, options)


def clean_batch(texts: list[str], options: CleanOptions) -> tuple[list[str], Counter]:
    """Clean many tweets at once: the kept texts in order, and how many were dropped for each reason.

    The same rules as `clean_tweet`, but they run in C over the batch joined by a separator no rule
    reaches across, instead of once per tweet.
    """
    if not texts:
        return [], Counter()
    return _clean_joined(_SEPARATOR.join(texts), len(texts), _SEPARATOR, _MARK, options, lambda: texts)


def clean_lines(text: str, options: CleanOptions) -> tuple[list[str], Counter]:
    """`clean_batch` for one tweet per line (a text file's lines, joined by "\\n"), without splitting first."""
    return _clean_joined(text, text.count("\n") + 1, "\n", "\n", options, lambda: text.split("\n"))


def _clean_joined(
    joined: str, count: int, separator: str, mark: str, options: CleanOptions, pieces: Callable[[], list[str]]
) -> tuple[list[str], Counter]:
    """Clean `count` tweets joined by `separator`; one by one when the rules made or met the separator's mark."""
    rewritten = _entity_rules(joined, options)
    if rewritten.count(mark) != count - 1:
        cleaned = [_char_rules(_normalize(_entity_rules(text, options), options), options) for text in pieces()]
    else:
        if options.normalize:
            rewritten = _normalize_lines(rewritten)
        cleaned = _char_rules(rewritten, options).split(separator)
    stripped = list(map(str.strip, cleaned))
    if options.replies == "strip":
        stripped = list(map(_without_reply_prefix, stripped))
    kept = list(filter(None, stripped))
    dropped = Counter(empty=len(stripped) - len(kept))
    if options.retweets == "drop":
        originals = kept
        kept = [text for text in originals if not (text.startswith("RT ") and _RETWEET.match(text))]
        dropped["retweet"] = len(originals) - len(kept)
    return kept, +dropped  # + drops the zero counts


def _normalize_lines(text: str) -> str:
    """NFC, but only of the lines holding a character NFC may change: over a long text, a single accent
    would otherwise make unicodedata re-normalise all of it."""
    if text.isascii():
        return text
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), "<u4")
    pieces, done = [], 0
    for position in np.flatnonzero(_nfc_candidates()[points]).tolist():
        if position < done:
            continue  # its line is normalised already
        start = text.rfind("\n", 0, position) + 1
        end = text.find("\n", position)
        end = len(text) if end < 0 else end
        pieces += [text[done:start], unicodedata.normalize("NFC", text[start:end])]
        done = end
    return "".join(pieces) + text[done:] if pieces else text


@functools.cache
def _nfc_candidates() -> np.ndarray:
    """True for every code point NFC may change or combine: combining marks, characters with a canonical
    decomposition, second halves of canonical pairs, and Hangul vowel and final jamo."""
    table = np.zeros(0x110000, bool)
    table[0x1161:0x1176] = table[0x11A8:0x11C3] = True
    for code in range(0x30000):  # no character above U+2FFFF decomposes or combines
        decomposition = unicodedata.decomposition(chr(code))
        canonical = decomposition and not decomposition.startswith("<")
        if unicodedata.combining(chr(code)) or canonical:
            table[code] = True
            parts = decomposition.split()
            if canonical and len(parts) == 2:
                table[int(parts[1], 16)] = True
    return table


def _entity_rules(text: str, options: CleanOptions) -> str:
    """Line breaks and HTML entities: rules that may make any character, the separator's mark and "\\n" included."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return html.unescape(text) if options.unescape_html else text


def _normalize(text: str, options: CleanOptions) -> str:
    return unicodedata.normalize("NFC", text) if options.normalize else text


def _char_rules(text: str, options: CleanOptions) -> str:
    """Control characters, lone surrogates, links and mentions; none reaches across or removes a line break."""
    if options.strip_control:
        text = _CONTROL_OR_SURROGATE.sub("", text.replace("\t", " ") if "\t" in text else text)
    elif not text.isascii():
        text = _LONE_SURROGATE.sub("", text)
    if options.links != "keep":
        text = _LINK.sub(URL_TOKEN if options.links == "token" else "", text)
    if options.mentions != "keep":
        text = _MENTION.sub(MENTION_TOKEN if options.mentions == "token" else "", text)
    return drop_debris(text) if options.debris else text


def drop_debris(text: str) -> str:
    """Without invisible characters and emoji parts left without their emoji: for training text, and for
    what the model writes (it may put a variation selector after a letter: invisible, yet X counts it 2)."""
    return text if text.isascii() else _EMOJI_PART.sub(_attached_or_nothing, _INVISIBLE.sub("", text))


def _attached_or_nothing(match: re.Match) -> str:
    """An emoji part stays where it belongs to an emoji (a joiner also inside words of scripts that use it)."""
    text, start, part = match.string, match.start(), match.group()
    before = text[start - 1] if start else ""
    if part != "\u200d":
        return part if _takes_emoji_part(before) else ""
    after = text[start + 1] if start + 1 < len(text) else ""
    in_word = any(unicodedata.category(ch)[0] in "LM" for ch in before + after)
    return part if in_word or (_takes_emoji_part(before) and _takes_emoji_part(after)) else ""


def _takes_emoji_part(ch: str) -> bool:
    return bool(ch) and (ch in _TAKES_EMOJI_PART or unicodedata.category(ch) in ("So", "Sk", "Sm"))


def _without_reply_prefix(text: str) -> str:
    """The text without a reply's leading @handles (or their placeholders); "@bob's cat" keeps its @bob."""
    return _REPLY_PREFIX.sub("", text) if text.startswith(("@", MENTION_TOKEN)) else text


def _verdict(text: str, options: CleanOptions) -> tuple[str, str | None]:
    if not text:
        return text, "empty"
    if options.retweets == "drop" and _RETWEET.match(text):
        return text, "retweet"
    return text, None
