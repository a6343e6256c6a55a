"""What a written tweet must not be. For now: degenerate (empty, a short loop, a mention chain).

The sampler redraws a stream that fails here, and `bench/quality.py` counts the same things in
samples and in real tweets, so "degenerate" has one definition.
"""

from __future__ import annotations

import re

from .vocab import MENTION_TOKEN

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
