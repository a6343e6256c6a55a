"""Cleaning rules for one tweet, each switchable, applied before the vocabulary sees any text."""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import asdict, dataclass

from .errors import BotError

URL_TOKEN = "\ue000"  # one private-use character stands for every link, so a link costs one step
URL_DISPLAY = "<url>"
DROP_REASONS = ("empty", "retweet", "duplicate")

_LINK = re.compile(r"https?://\S+")
_MENTION = re.compile(r"(?<![\w@])@\w{1,15}\b")
_RETWEET = re.compile(r"^RT @\w")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON escapes can produce them; no encoding takes them
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # category Cc but tab and newline


@dataclass(frozen=True)
class CleanOptions:
    """Which cleaning steps `bot prepare` applies; saved in prepare.json."""

    unescape_html: bool = True
    retweets: str = "drop"  # drop | keep
    links: str = "token"  # token | drop | keep
    mentions: str = "keep"  # keep | user
    normalize: bool = True  # Unicode NFC
    strip_control: bool = True
    dedupe: bool = True

    def __post_init__(self) -> None:
        for name, allowed in (
            ("retweets", ("drop", "keep")),
            ("links", ("token", "drop", "keep")),
            ("mentions", ("keep", "user")),
        ):
            if getattr(self, name) not in allowed:
                raise BotError(f"--{name} must be one of {', '.join(allowed)} (got {getattr(self, name)!r})")

    def to_dict(self) -> dict:
        return asdict(self)


def clean_tweet(text: str, options: CleanOptions) -> tuple[str, str | None]:
    """The cleaned text and, when the tweet is to be dropped, why ('empty' or 'retweet')."""
    text = _LONE_SURROGATE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if options.unescape_html:
        text = html.unescape(text)
    if options.normalize:
        text = unicodedata.normalize("NFC", text)
    if options.strip_control:
        text = _CONTROL.sub("", text.replace("\t", " "))
    if options.retweets == "drop" and _RETWEET.match(text.lstrip()):
        return text, "retweet"
    if options.links != "keep":
        text = _LINK.sub(URL_TOKEN if options.links == "token" else "", text)
    if options.mentions == "user":
        text = _MENTION.sub("@user", text)
    text = text.strip()
    return text, None if text else "empty"


def display(text: str) -> str:
    """Text as a person should see it: the link token shown as <url>."""
    return text.replace(URL_TOKEN, URL_DISPLAY)
