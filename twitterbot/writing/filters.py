"""What a written tweet must not be: degenerate (empty, a short loop, a mention chain), and, for what is
shown or posted, `Filters`: whole, no placeholder, no mention of people, X's length, words the corpus
had, not a copy of a training tweet, nothing on the blocklist.

The sampler redraws a stream that is degenerate, and `bench/quality.py` counts the same things in
samples and in real tweets, so "degenerate" has one definition.
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
import warnings
from collections.abc import Callable
from pathlib import Path

from twitterbot.config import FilterOptions
from twitterbot.corpus.novelty import GRAM, HASH_BASE, WINDOW, NoveltyIndex
from twitterbot.corpus.vocab import MENTION_TOKEN, PLACEHOLDERS
from twitterbot.corpus.words import WordSet, words_in
from twitterbot.errors import BotError
from twitterbot.fsutil import read_text

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
    """Every rule a candidate must pass to be shown or posted, each failure named: 'empty', 'loop',
    'mention chain', 'unfinished', 'placeholder', 'mention', 'too long', 'copy', 'copied run', 'blocklist',
    'non-word'.

    `novelty`: the training tweets' index (a checkpoint's novelty.npz); without one, copies are not checked.
    `words`: the words the model's corpus had (a checkpoint's words.txt.gz); without them, words are not.
    `mention`: the handle the user chose for the mention placeholder (`--mention`), which may appear.
    `length`: how the destination counts (default: X's weighted length); `options.max_length` its limit.
    """

    def __init__(
        self,
        options: FilterOptions,
        novelty: NoveltyIndex | None = None,
        mention: str = "",
        length: Callable[[str], int] | None = None,
        words: WordSet | None = None,
    ):
        self.options, self.novelty, self.mention, self.words = options, novelty, mention.lower(), words
        self.length = length or x_length
        self.blocked = Blocklist(Path(options.blocklist) if options.blocklist else None)

    def rejection(self, raw: str, rendered: str, ended: bool = True) -> str | None:
        """Why a candidate (raw: placeholders in; rendered: as it would be posted; ended: the model ended it
        rather than running to --max-len, where it was cut mid-word as often as not) fails, or None."""
        if not rendered.strip():
            return "empty"
        if has_loop(raw):
            return "loop"
        if _MENTION_CHAIN.search(raw):
            return "mention chain"
        if not ended:
            return "unfinished"
        if set(rendered) & set(PLACEHOLDERS.values()):
            return "placeholder"
        if not self.options.allow_mentions and any(
            handle.lower() != self.mention for handle in _HANDLE.findall(rendered)
        ):
            return "mention"
        if length_bound(rendered) > self.options.max_length and self.length(rendered) > self.options.max_length:
            return "too long"
        if self.novelty is not None:
            if self.novelty.is_copy(raw):
                return "copy"
            shared = self.novelty.longest_shared(raw)
            if shared and shared >= min(self.options.max_run, self.options.overlap * len(raw)):
                return "copied run"
        if self.blocked.matches(_unleet(rendered)):
            return "blocklist"
        if self.words is not None and self.options.non_words >= 0:
            words = words_in(rendered)
            if sum(word not in self.words.words for word in words) > max(1, self.options.non_words * len(words)):
                return "non-word"
        return None


# X's weights (twitter-text's config v3): code points in these ranges count 1, every other 2 (© and ®, emoji
# on their own, too), an emoji 2 however many code points it has, a link 23, and "\r\n" 1.
_HEAVY = re.compile(r"[^\x00-\u10ff\u2000-\u200d\u2010-\u201f\u2032-\u2037]|[©®]")
# Every link twitter-text finds has a dot before a letter (example.com, 例子.中国), and Mastodon's a scheme.
_LINK_MARK = re.compile(r"\.[^\W\d_]|://")


def length_bound(text: str) -> int:
    """A length no destination counts `text` above (X, Mastodon, Bluesky): each character 2 at most, 1 if
    X weighs it 1, each link 23. Most tweets are well within a limit by it, whatever emoji they hold."""
    text = unicodedata.normalize("NFC", text)
    return len(text) + len(_HEAVY.findall(text)) + 23 * len(_LINK_MARK.findall(text))


def x_length(text: str) -> int:
    """A post's length as X counts it (twitter-text: NFC, URLs 23, CJK and emoji 2, the rest 1).

    A text without links, emoji or "\\r" is counted here by the weights alone: almost every tweet the
    model writes, without twitter-text, whose import compiles regular expressions for 0.3 s."""
    text = unicodedata.normalize("NFC", text)
    if "\r" not in text and not _LINK_MARK.search(text):
        heavy = "".join(_HEAVY.findall(text))  # every emoji has a character of weight 2
        if not heavy or not _has_emoji(heavy):
            return len(text) + len(heavy)
    with warnings.catch_warnings():  # twitter-text-parser 3.0 still imports pkg_resources, with a warning
        warnings.simplefilter("ignore", UserWarning)
        from twitter_text import parse_tweet

    return parse_tweet(text).weightedLength


def _has_emoji(text: str) -> bool:
    import regex  # Unicode's emoji properties, which `re` lacks

    return bool(regex.search(r"[\p{Emoji}\p{Emoji_Component}--[#*0-9]]", text, flags=regex.V1))


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


def page_rules(options: FilterOptions) -> dict:
    """What the exported page needs to apply the same rules (its filters.js): the limits, the loop span,
    how to index tweets as NoveltyIndex does, the leet table, the listed words (read as `_unleet` reads
    them) and the user's /regular expressions/: the page re-types none of them."""
    blocklist = Blocklist(Path(options.blocklist) if options.blocklist else None)
    return {
        "max_length": options.max_length,
        "overlap": options.overlap,
        "max_run": options.max_run,
        "non_words": options.non_words,
        "allow_mentions": options.allow_mentions,
        "loop_span": LOOP_SPAN,
        "index": {"gram": GRAM, "window": WINDOW, "hash_base": HASH_BASE},  # how the page indexes a user's tweets
        "leet": {chr(code): letter for code, letter in _LEET.items()},
        "blocked_words": sorted(blocklist.words),
        "blocked_patterns": [pattern for pattern, _ in blocklist.patterns],
    }


PATTERN_SECONDS = 0.2  # the time a user's pattern may take on one tweet
MAX_BLOCKLIST_BYTES = 1 << 20  # a long list of blocked words is tens of KB; each pattern compiles to ~300× its size
MAX_BLOCKED_CHARS = 1_000  # a blocked word or pattern at most (a tweet is 280)
# What a user's pattern may hold: the page runs it too, as a JavaScript RegExp with the "u" flag, where
# other escapes, inline flags, named groups, backreferences and possessive quantifiers are errors or
# mean something else.
_JS_ESCAPES = frozenset("dDwWsSbBnrtfv") | frozenset("^$\\.*+?()[]{}|/")
_GROUPS = ("(?:", "(?=", "(?!", "(?<=", "(?<!")


class Blocklist:
    """better-profanity's word list (less EVERYDAY) plus the user's file (words, or /regular expressions/),
    matched on word boundaries after `_unleet`, so "sh1t" is caught and "class" or "Scunthorpe" are not.
    The user's patterns are checked as they are read (one line says which and why) and each runs with a
    time budget, so no pattern can hang a bot."""

    def __init__(self, extra: Path | None):
        # The package's folder, not the package: importing it builds 40 ms of word variants of its own.
        package = importlib.util.find_spec("better_profanity").submodule_search_locations[0]
        listed = (Path(package) / "profanity_wordlist.txt").read_text(encoding="utf-8").split("\n")
        self.words = {_unleet(word.strip()) for word in listed if word.strip()} - EVERYDAY
        self.patterns: list[tuple[str, str]] = []  # (pattern, where it was read: FILE:LINE)
        if extra is not None:
            self._read(extra)
        alternatives = sorted(map(re.escape, self.words), key=len, reverse=True)
        self._words = re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)
        import regex  # its searches take a timeout

        self._patterns = [
            (regex.compile(rf"(?<!\w)(?:{pattern})(?!\w)", regex.IGNORECASE | regex.V0), pattern, where)
            for pattern, where in self.patterns
        ]

    def _read(self, path: Path) -> None:
        lines = read_text(path, MAX_BLOCKLIST_BYTES, "a blocklist").splitlines()
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if len(line) > MAX_BLOCKED_CHARS:
                raise BotError(f"{path}:{number}: {len(line):,} characters; a blocked word or pattern may have "
                               f"{MAX_BLOCKED_CHARS:,}")  # fmt: skip
            if len(line) > 2 and line.startswith("/") and line.endswith("/"):
                pattern = line[1:-1]
                problem = _pattern_problem(pattern)
                if problem:
                    raise BotError(f"{path}:{number}: /{_shown(pattern)}/ cannot be used: {problem}")
                self.patterns.append((pattern, f"{path}:{number}"))
            else:
                self.words.add(_unleet(line))

    def matches(self, text: str) -> bool:
        """Whether `text` (unleeted) holds a blocked word or matches a user's pattern."""
        if self._words.search(text):
            return True
        for compiled, pattern, where in self._patterns:
            try:
                if compiled.search(text, timeout=PATTERN_SECONDS):
                    return True
            except TimeoutError:
                raise BotError(
                    f"{where}: /{_shown(pattern)}/ took over {PATTERN_SECONDS} s on one tweet (nested repeats "
                    "backtrack without end): simplify it"
                ) from None
        return False


def _pattern_problem(pattern: str) -> str | None:
    """Why a user's pattern cannot run here and in the page alike, or None."""
    import regex

    try:
        regex.compile(pattern, regex.V0)
        re.compile(pattern)
    except (regex.error, re.error, OverflowError, RecursionError) as error:
        return f"not a regular expression ({_shown(str(error))})"
    at, in_class, after_quantifier = 0, False, False
    while at < len(pattern):
        char = pattern[at]
        if char == "\\":
            escaped = pattern[at + 1 : at + 2]
            digits = {"x": 2, "u": 4}.get(escaped, 0)  # \xHH, \uHHHH
            if (escaped == "-" and in_class) or escaped in _JS_ESCAPES or digits:
                if digits and not regex.fullmatch(f"[0-9a-fA-F]{{{digits}}}", pattern[at + 2 : at + 2 + digits]):
                    return f"\\{escaped} without {digits} hex digits"
                at, after_quantifier = at + 2 + digits, False
                continue
            return (
                f"the escape \\{escaped} (the page reads \\d \\w \\s \\b, their capitals, \\n \\t \\xHH, \\uHHHH "
                "and escaped punctuation)"
            )
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class, after_quantifier = True, False
        elif pattern.startswith("(?", at) and not pattern.startswith(_GROUPS, at):
            return "a (?...) group other than (?:...), (?=...), (?!...), (?<=...), (?<!...): no inline flags or names"
        elif char == "+" and after_quantifier:
            return "a possessive quantifier (the page's JavaScript has none)"
        else:
            after_quantifier = char in "*+?}"
            at += 1
            continue
        at += 1
    return None


def _shown(text: str, limit: int = 80) -> str:
    """A user's text in a one-line message: no line breaks, at most `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
