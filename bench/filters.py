"""How often each filter rejects what a model writes, and how fast the filters are.

Draws N raw candidates per temperature from a checkpoint (default: the bundled base model), checks each
against every filter with the novelty index of a data folder (default: the checkpoint's own), and
prints the share rejected by each rule (the first rule a candidate fails) and candidates per second,
for the filters alone and for drawing plus filtering; then, raw (as `--no-filter` shows them: every
candidate but the empty ones, loops and mention chains the sampler redraws) beside shown (those that
pass), their length (mean, median), how many are cut at --max-len and their non-words: the filters
must not skew what a bot shows. With --real, the tweets of a data folder the
index does not hold (held-out accounts, prepared with the model's vocabulary) go through the same
filters as if written, with what fails listed: a filter that rejects what people write skews what a
bot shows.

    python bench/filters.py twitterbot/models/base --data data/base [--own-index] -n 600 [--real DATA ...]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import numpy as np
from quality import SEPARATOR

from twitterbot.config import FilterOptions, SampleOptions
from twitterbot.corpus.datafolder import NOVELTY, open_data
from twitterbot.corpus.novelty import NoveltyIndex
from twitterbot.corpus.vocab import render
from twitterbot.corpus.words import WordSet, words_in
from twitterbot.training.checkpoint import open_checkpoint
from twitterbot.writing.filters import Filters, must_redraw
from twitterbot.writing.sample import STREAMS, Candidate, Sampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, nargs="?", help="default: the bundled base model")
    parser.add_argument("--data", type=Path, help="data folder whose novelty index to use, and training words to count")
    parser.add_argument("--own-index", action="store_true", help="the checkpoint's novelty index even with --data")
    parser.add_argument("-n", type=int, default=1000, help="candidates per temperature")
    parser.add_argument("--temps", type=float, nargs="+", default=[0.5, 0.8, 1.0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real", type=Path, nargs="*", default=[], help="data folders of real tweets to check")
    parser.add_argument("--non-words", type=float, default=FilterOptions.non_words)
    args = parser.parse_args()
    ckpt = open_checkpoint(args.checkpoint)
    started = time.perf_counter()
    novelty = NoveltyIndex.load(args.data / NOVELTY) if args.data and not args.own_index else ckpt.novelty()
    loaded = time.perf_counter() - started
    filters = Filters(FilterOptions(non_words=args.non_words), novelty, words=ckpt.words())
    sampler = Sampler(ckpt, compiled=True)
    kind = f"{novelty.gram}-grams{', compact' if novelty.compact else ''}" if novelty else ""
    sizes = f"{novelty.tweets.size:,} tweets, {novelty.minima.size:,} n-gram hashes ({kind})" if novelty else "none"
    words = f"{len(filters.words):,}" if filters.words else "none"
    print(f"{ckpt.path}; novelty index: {sizes} (loaded in {loaded:.2f} s); words known: {words}")
    print("temp | candidates | passed | rejected by (share of candidates) | filters only | draw + filter")
    profiles = []
    for temperature in args.temps:
        options = SampleOptions(temperature=temperature, seed=args.seed)
        rng = np.random.default_rng(args.seed)
        sampler.candidates(1, options, rng)  # compile outside the timing
        drawn, reasons, filter_seconds = 0, Counter(), 0.0
        raw, shown = [], []
        started = time.perf_counter()
        while drawn < args.n:
            for candidate in sampler.candidates(min(STREAMS, args.n - drawn), options, rng):
                checked = time.perf_counter()
                reason = filters.rejection(*candidate)
                filter_seconds += time.perf_counter() - checked
                reasons[reason] += 1
                drawn += 1
                if not must_redraw(candidate.raw, candidate.rendered):
                    raw.append(candidate)  # what --no-filter shows: the sampler redraws the rest
                if reason is None:
                    shown.append(candidate)
        total = time.perf_counter() - started
        passed = reasons.pop(None, 0)
        shares = ", ".join(f"{reason} {count / drawn:.1%}" for reason, count in reasons.most_common())
        print(
            f"{temperature} | {drawn} | {passed / drawn:.1%} | {shares or 'none'} | "
            f"{drawn / filter_seconds:,.0f}/s | {drawn / total:,.0f}/s"
        )
        profiles += [(temperature, "raw", raw), (temperature, "shown", shown)]
    if args.real:
        real = check_real_tweets(args.real, filters)
        profiles.append(("real", "tweets", [Candidate(text, text, True) for text in real]))
    known = filters.words or (training_words(args.data) if args.data else None)  # what the non-word rule knows
    what = "the checkpoint's words" if filters.words else "--data's training words"
    print(f"\ntemp | tweets | length mean | median | cut at --max-len | non-words (of {what})")
    for temperature, kind, candidates in profiles:
        lengths = [len(candidate.rendered) for candidate in candidates] or [0]
        cut = sum(not candidate.ended for candidate in candidates)
        words = [word for candidate in candidates for word in words_in(candidate.rendered)]
        unknown = f"{np.mean([word not in known.words for word in words]):.1%}" if known and words else "-"
        print(
            f"{temperature} {kind} | {len(candidates)} | {np.mean(lengths):.1f} | {np.median(lengths):.0f} | {cut} | "
            f"{unknown}"
        )


def training_words(data: Path) -> WordSet:
    """The words of a data folder's training split, as bench/quality.py counts non-words."""
    folder = open_data(data)
    return WordSet.of([folder.vocab.decode_stream(folder.split("train")[()])])


def check_real_tweets(folders: list[Path], filters: Filters) -> list[str]:
    """Every tweet of the folders (all splits) put through the filters as if written; what fails, listed.
    Returns the tweets as shown."""
    raws = []
    for path in folders:
        folder = open_data(path)
        for split in ("train", "validate", "test"):
            raws += folder.vocab.decode_stream(folder.split(split)[()]).split(SEPARATOR)[:-1]  # each ends at <eot>
    shown = [render(raw) for raw in raws]
    failed: dict[str, list[str]] = {}
    for raw, rendered in zip(raws, shown, strict=True):
        reason = filters.rejection(raw, rendered)
        if reason:
            failed.setdefault(reason, []).append(rendered)
    rejected = sum(map(len, failed.values()))
    print(
        f"\nreal tweets as candidates: {len(raws) - rejected:,} of {len(raws):,} pass ({1 - rejected / len(raws):.1%})"
    )
    for reason, texts in sorted(failed.items(), key=lambda item: -len(item[1])):
        print(f"  {reason}: {len(texts)}, e.g. " + " | ".join(repr(text[:80]) for text in texts[:4]))
    return shown


if __name__ == "__main__":
    main()
