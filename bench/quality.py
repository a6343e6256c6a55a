"""What a checkpoint writes, measured against real held-out tweets of its corpus, and its loss against
an order-7 Kneser-Ney character model (counts only) on the same train/test streams.

For each temperature, N samples drawn raw (no redraw guard; placeholders rendered as `bot generate`
shows them) and, as the reference, N tweets of the data folder's test split:
- copies: verbatim copies of a training tweet; share whose longest common substring with one training
  tweet is ≥ 40 % of its length
- non-words: share of alphabetic words of ≥ 3 letters never seen in the training text (links, @handles and
  #tags left out), overall and by the word's position in the tweet (words 1–3, 4–6, 7–9, 10 on); and the
  share of tweets with no non-word at all
- mostly caps: tweets with ≥ 10 letters, ≥ 60 % of them upper case; and tweets whose first 20 characters
  are (≥ 5 letters there, ≥ 60 % upper case): where a tweet starts is where a sampler's start state shows
- distinct-2: distinct word bigrams / bigrams, at an equal word budget
- degenerate: a character 6+ times in a row, a period-≤4 loop over 30+ characters, or 3+ identical
  mentions (twitterbot.filters.degeneracy); also after the sampler's redraw guard (what users get)
- placeholders shown (<url>, @user, the private-use tokens); length mean / median; share at the cap
- replies: share of tweets opening with a mention placeholder (a reply), the kind of tweet temperature
  must not change

    python bench/quality.py CKPT DATA [--n 300] [--temps 0.5 0.8 1.0] [--json OUT] [--zero-start]

`--zero-start` samples every tweet from a zeroed LSTM state, as `bot generate` did before checkpoints
kept a tweet-start state (checkpoint.START_STATE), to compare the two.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

import numpy as np
from kneser_ney import KneserNey, gram_hashes

from twitterbot.corpus.datafolder import open_data
from twitterbot.corpus.vocab import MENTION_TOKEN, URL_TOKEN, Vocab, render
from twitterbot.corpus.words import WordSet, words_in
from twitterbot.training.checkpoint import open_checkpoint
from twitterbot.training.evaluate import evaluate
from twitterbot.writing.filters import degeneracy
from twitterbot.writing.sample import SampleOptions, Sampler

SHOWN = (URL_TOKEN, MENTION_TOKEN, "<url>", "@user")
POSITIONS = ((0, 3), (3, 6), (6, 9), (9, None))  # word positions for non-words by position: 1–3, …, 10 on
PROBE = 8  # n-gram length of the novelty index's prefilter
SEPARATOR = "\x00"  # between tweets in the decoded training text (Vocab.decode_stream's <eot>)


class TrainingText:
    """The training split as text, its tweets, its words, and an index for longest-common-substring checks."""

    def __init__(self, ids: np.ndarray, vocab: Vocab):
        self.vocab, self.text = vocab, vocab.decode_stream(ids)
        self.tweets = set(self.text.split(SEPARATOR))
        self.words = WordSet.of([self.text]).words
        self.probes = np.unique(gram_hashes(ids, PROBE)[PROBE][PROBE - 1 :])

    def shares_40(self, raw: str) -> bool:
        """Whether some substring of ≥ 40 % of the tweet's length is in one training tweet."""
        need = max(1, math.ceil(0.4 * len(raw)))
        if need < PROBE:
            return any(raw[j : j + need] in self.text for j in range(len(raw) - need + 1))
        hashes = gram_hashes(self.vocab.encode(raw), PROBE)[PROBE][PROBE - 1 :]
        where = np.minimum(np.searchsorted(self.probes, hashes), len(self.probes) - 1)
        present = self.probes[where] == hashes
        span = need - PROBE + 1  # probes inside one window of `need` characters
        covered = np.convolve(present.astype(int), np.ones(span, int), "valid") == span
        return any(raw[j : j + need] in self.text for j in np.flatnonzero(covered).tolist())


def mostly_caps(text: str, least_letters: int) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= least_letters and sum(c.isupper() for c in letters) >= 0.6 * len(letters)


def non_word_share(tokens: list[list[str]], known: set[str], start: int, stop: int | None) -> float:
    """Share of non-words among the words at positions [start, stop) of their tweets."""
    words = [word for ws in tokens for word in ws[start:stop]]
    return float(np.mean([word not in known for word in words])) if words else 0.0


def figures(raws: list[str], training: TrainingText, max_len: int, words: int) -> dict:
    shown = [render(raw) for raw in raws]
    tokens = [words_in(text) for text in shown]
    bigrams, budget = [], words
    for text in shown:
        ws = text.split()[:budget]
        budget -= len(ws)
        bigrams += list(zip(ws, ws[1:], strict=False))
    lengths = [len(text) for text in shown]
    return {
        "copies": np.mean([raw in training.tweets for raw in raws]),
        "lcs_40": np.mean([training.shares_40(raw) for raw in raws]),
        "non_words": non_word_share(tokens, training.words, 0, None),
        **{
            f"non_words_{start + 1}_{stop or ''}": non_word_share(tokens, training.words, start, stop)
            for start, stop in POSITIONS
        },
        "replies": np.mean([raw.startswith(MENTION_TOKEN) for raw in raws]),  # a reply's leading mention
        "no_non_word": np.mean([all(w in training.words for w in ws) for ws in tokens]),
        "mostly_caps": np.mean([mostly_caps(text, 10) for text in shown]),
        "caps_first_20": np.mean([mostly_caps(text[:20], 5) for text in shown]),
        "distinct_2": len(set(bigrams)) / max(len(bigrams), 1),
        "degenerate": np.mean([degeneracy(raw) is not None for raw in raws]),
        "placeholders": int(sum(any(p in text for p in SHOWN) for text in shown)),
        "length_mean": statistics.mean(lengths),
        "length_median": statistics.median(lengths),
        "at_cap": np.mean([len(raw) >= max_len for raw in raws]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("data", type=Path)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--temps", type=float, nargs="+", default=[0.5, 0.8, 1.0])
    parser.add_argument("--kn-order", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--zero-start", action="store_true", help="start tweets from zeros, not the tweet-start state")
    args = parser.parse_args()

    ckpt, data = open_checkpoint(args.checkpoint), open_data(args.data)
    train_ids, test_ids = data.split("train")[()], data.split("test")[()]
    training = TrainingText(train_ids, data.vocab)
    real = [t for t in data.vocab.decode_stream(test_ids).split(SEPARATOR) if t]
    real = [real[i] for i in np.random.default_rng(args.seed).permutation(len(real))[: args.n]]
    options = SampleOptions()
    sampler = Sampler(ckpt, compiled=True, tweet_start=not args.zero_start)
    drawn = {t: sampler.sample(args.n, SampleOptions(temperature=t, seed=args.seed), guard=False) for t in args.temps}
    budget = min(sum(len(render(r).split()) for r in raws) for raws in [real, *drawn.values()])
    rows = {"real test tweets": figures(real, training, options.max_len, budget)}
    for temperature, raws in drawn.items():
        rows[f"temp {temperature}"] = figures(raws, training, options.max_len, budget)
        guarded = sampler.sample(args.n, SampleOptions(temperature=temperature, seed=args.seed))
        rows[f"temp {temperature}"]["degenerate_guarded"] = np.mean([degeneracy(t) is not None for t in guarded])
        rows[f"temp {temperature}"]["placeholders_guarded"] = int(sum(any(p in t for p in SHOWN) for t in guarded))
    kn = float(KneserNey(train_ids, data.vocab.size, args.kn_order).log_losses(test_ids).mean())
    model_loss = evaluate(ckpt.path, data.path).loss
    result = {
        "checkpoint": str(ckpt.path),
        "data": str(data.path),
        "n": args.n,
        "start": "zeros" if args.zero_start else "tweet-start state",
        "word_budget": budget,
        "test_loss": model_loss,
        f"kn{args.kn_order}_test_loss": kn,
        "rows": {name: {k: float(v) for k, v in row.items()} for name, row in rows.items()},
    }
    print(
        f"test loss: model {model_loss:.4f} nats/char, order-{args.kn_order} Kneser-Ney {kn:.4f} "
        f"(model − KN = {model_loss - kn:+.4f})"
    )
    columns = list(rows["temp " + str(args.temps[0])].keys())
    print("| | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{row[c]:.3f}" if c in row else "" for c in columns) + " |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
