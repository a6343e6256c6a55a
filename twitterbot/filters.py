"""What a written tweet must not be: degenerate (empty, a short loop, a mention chain), and, for what is
shown or posted, `Filters`: no placeholder, no mention of people, X's length, not a copy of a training
tweet, nothing on the blocklist.

The sampler redraws a stream that is degenerate, and `bench/quality.py` counts the same things in
samples and in real tweets, so "degenerate" has one definition.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from .config import FilterOptions
from .errors import BotError
from .novelty import NoveltyIndex
from .vocab import MENTION_TOKEN, PLACEHOLDERS

with warnings.catch_warnings():  # twitter-text-parser 3.0 still imports pkg_resources, with a warning
    warnings.simplefilter("ignore", UserWarning)
    from twitter_text import parse_tweet

LOOP_SPAN = 30  # a pattern of period ≤ 4 repeated over this many characters is a loop
_LOOP = re.compile(r"(.{1,4}?)\1+", re.DOTALL)
_RUN = re.compile(r"(.)\1{5,}", re.DOTALL)  # one character 6+ times in a row
_MENTION_CHAIN = re.compile(rf"(@\w+|{MENTION_TOKEN})(?:\s*\1){{2,}}")  # the same mention 3+ times in a row


def has_loop(text: str) -> bool:
    """A pattern of 1–4 characters repeated over LOOP_SPAN or more characters ("hahaha…", "!!!!…", "@ @ @ …")."""
    return any(len(match.group()) >= LOOP_SPAN for match in _LOOP.finditer(text))


def degeneracy(text: str) -> str | None:
    """Why a tweet (raw, placeholders still in) is degenerate, or None: 'empty', 'loop', 'run', 'mention chain'."""
    if not text.strip():
        return "empty"
    if has_loop(text):
        return "loop"
    if _MENTION_CHAIN.search(text):
        return "mention chain"
    if _RUN.search(text):
        return "run"
    return None


def must_redraw(raw: str, rendered: str) -> bool:
    """What the sampler never hands out: nothing left once placeholders are dropped, a loop, a mention chain.
    (A run like "soooooo" is something people write; only the quality benchmark counts it.)"""
    return not rendered or has_loop(raw) or _MENTION_CHAIN.search(raw) is not None


class Filters:
    """Every rule a candidate must pass to be shown or posted, each failure named:
    'empty', 'loop', 'mention chain', 'placeholder', 'mention', 'too long', 'copy', 'copied run', 'blocklist'.

    `novelty`: the training tweets' index (a checkpoint's novelty.npz); without one, copies are not checked.
    `mention`: the handle the user chose for the mention placeholder (`--mention`), which may appear.
    `length`: how the destination counts (default: X's weighted length); `options.max_length` its limit.
    """

    def __init__(
        self,
        options: FilterOptions,
        novelty: NoveltyIndex | None = None,
        mention: str = "",
        length: Callable[[str], int] | None = None,
    ):
        self.options, self.novelty, self.mention = options, novelty, mention.lower()
        self.length = length or x_length
        self.blocked = _blocklist(Path(options.blocklist) if options.blocklist else None)

    def rejection(self, raw: str, rendered: str) -> str | None:
        """Why a candidate (raw: placeholders in; rendered: as it would be posted) fails, or None."""
        if not rendered.strip():
            return "empty"
        if has_loop(raw):
            return "loop"
        if _MENTION_CHAIN.search(raw):
            return "mention chain"
        if set(rendered) & set(PLACEHOLDERS.values()):
            return "placeholder"
        if not self.options.allow_mentions and any(
            handle.lower() != self.mention for handle in _HANDLE.findall(rendered)
        ):
            return "mention"
        if self.length(rendered) > self.options.max_length:
            return "too long"
        if self.novelty is not None:
            if self.novelty.is_copy(raw):
                return "copy"
            shared = self.novelty.longest_shared(raw)
            if shared and shared >= self.options.overlap * len(raw):
                return "copied run"
        if self.blocked is not None and self.blocked.search(_unleet(rendered)):
            return "blocklist"
        return None


def x_length(text: str) -> int:
    """A post's length as X counts it (twitter-text: NFC, URLs 23, CJK and emoji 2, the rest 1)."""
    return parse_tweet(text).weightedLength


# better-profanity's list is broad: besides slurs and insults it holds identity words, everyday speech and
# medical terms. A bot's filter must not silence those; these entries of it are not blocked.
EVERYDAY = frozenset(
    """gay gays gai gae gey ghay ghey queer queers lesbians god omg lmao lmfao wtf hell he11 damn crap kill murder
    sniper fat pot hemp hiv herpes pawn maxi len ovum ovums ovary uterus urine urinal vomit vodka organ loin loins
    oral orally pee peepee fart drunk weed ganja nude nudes naked lust lusty lusting sex sexual virgin ugly stupid
    dummy dopey doofus ninny nimrod suck sucked sucking screw screwed meth pcp heroin opium opiate valium viagra
    peyote lube hump humped humping herp poop potty slave stoned strip stroke thrust seaman seamen revue sandbar
    foobar facial erect tramp trashy sleaze sleazy steamy undies unwed tinkle snuff seduce prude vixen hooch hootch
    hookah junkie junky napalm leper breasts menses tampon jerked cowgirl playboy""".split()
)
_HANDLE = re.compile(r"(?<![\w@])@\w{1,15}")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})


def _unleet(text: str) -> str:
    """Lower case with the obvious digit and symbol stand-ins read as letters ("b1tch", "@$$")."""
    return text.lower().translate(_LEET)


def _blocklist(extra: Path | None) -> re.Pattern | None:
    """better-profanity's word list (less EVERYDAY) plus the user's file (words, or /regular expressions/),
    matched on word boundaries after `_unleet`, so "sh1t" is caught and "class" or "Scunthorpe" are not."""
    words = (resources.files("better_profanity") / "profanity_wordlist.txt").read_text(encoding="utf-8").split("\n")
    listed = {_unleet(word.strip()) for word in words if word.strip()} - EVERYDAY
    patterns = [re.escape(word) for word in listed]
    if extra is not None:
        try:
            lines = extra.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise BotError(f"{extra}: cannot read the blocklist ({error})") from error
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if len(line) > 2 and line.startswith("/") and line.endswith("/"):
                try:
                    re.compile(line[1:-1])
                except re.error as error:
                    raise BotError(f"{extra}:{number}: not a regular expression ({error})") from error
                patterns.append(line[1:-1])
            else:
                patterns.append(re.escape(_unleet(line)))
    patterns.sort(key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(patterns) + r")(?!\w)", re.IGNORECASE)
