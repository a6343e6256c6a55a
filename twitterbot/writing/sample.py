"""`bot generate`: sample tweets from a checkpoint, n parallel streams.

One sampling procedure (fused LSTM step: one matmul per layer for all gates and an embedding-row
lookup; temperature, top-k, top-p; <unk> masked; no empty tweet; stop at <eot>), written once over
an `ops` namespace and run two ways: step by step in NumPy (no Keras import, no compile: the first
tweet comes in well under a second), or, for 512 tweets and more, as one `keras.ops` while loop
compiled by the backend (XLA through `tf.function(jit_compile=True)`, or `jax.jit`). Random draws are made up
front with NumPy, so `--seed` gives the same tweets on either path and every backend. Keras stays the
source of truth: tests check the fused step's probabilities against the Keras model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from twitterbot.backend import import_keras
from twitterbot.config import SampleOptions
from twitterbot.corpus.clean import drop_debris
from twitterbot.corpus.vocab import EOT, MENTION_TOKEN, SPECIALS, UNK, Vocab, render
from twitterbot.errors import BotError
from twitterbot.training.checkpoint import Checkpoint
from twitterbot.training.lstm import LstmWeights, ModelWeights, lstm_step, numpy_ops
from twitterbot.writing.filters import Filters, must_redraw


class Candidate(NamedTuple):
    """A drawn tweet: raw (placeholders in), rendered (as it would be shown), and whether the model ended
    it (False: it ran to --max-len, cut wherever that fell; the filters do not show it)."""

    raw: str
    rendered: str
    ended: bool


REDRAWS = 10  # a stream caught in a loop is drawn again at most this many times
# A stream never draws a third mention placeholder in a row (spaces between them continue the run): at a
# low temperature a reply's leading "@user @user" went on to the length cap (71 of the 74 raw samples of
# 300 that reached it at --temp 0.5, docs/quality.md), and a chain is what `must_redraw` rejects and
# `render` drops anyway.
MENTION_RUN = 2
MENTION, SPACE = 1, 2  # chain_kinds's marks


def mention_chain(vocab: Vocab) -> dict:
    """The rule as the page reads it (generation.json): the mention placeholder's id (None without one),
    the ids that go on with a run (whitespace), and the run after which no mention is drawn."""
    kinds = chain_kinds(vocab)
    mention = np.flatnonzero(kinds == MENTION)
    return {
        "run": MENTION_RUN,
        "mention": int(mention[0]) if len(mention) else None,
        "spaces": np.flatnonzero(kinds == SPACE).tolist(),
    }


def chain_kinds(vocab: Vocab) -> np.ndarray:
    """Per id: MENTION for the mention placeholder, SPACE for whitespace, 0 for the rest."""
    kinds = np.zeros(vocab.size, np.int32)
    for offset, char in enumerate(vocab.chars):
        kinds[offset + len(SPECIALS)] = MENTION if char == MENTION_TOKEN else SPACE if char.isspace() else 0
    return kinds


STREAMS = 256  # tweets drawn in parallel at most; a larger -n is drawn in groups of this many
# From this many tweets on, the compiled loop's ~2.5 s start-up (Keras import, backend, compile) pays for
# itself: whole runs break even at 512 tweets on a 2-core CPU (docs/benchmarks.md, "Time to the first tweet").
COMPILED_FROM = 512


def _sampling_logits(logits, options: SampleOptions, allow_eot, ops, banned=None, opening=False):
    """Temperature, <unk>, `banned` ((streams, vocab) bool: ids a stream may not draw now) and early-<eot>
    masks, top-k and top-p, as logits with -inf where excluded.

    Temperature reshapes how a tweet is written, not what kind of tweet it is nor when it ends. <eot>
    keeps the model's own probability (without <unk>) and the other characters share the rest,
    tempered: plain scaling made tweets at --temp 0.5 run to the length cap, since the end is rarely the
    single likeliest character. A tweet's `opening` character (none of the user's seed text before it:
    a reply's mention placeholder, a quote mark, a letter) is drawn at the model's own probabilities:
    tempered, the likeliest opening took over, and --temp 0.8 wrote 69 % replies to real tweets' 45 %.
    """
    vocab = logits.shape[-1]
    temperature = ops.cast(ops.where(opening, 1.0, options.temperature), "float32")
    never = ops.one_hot(UNK, vocab, dtype="bool")[None, :]
    if banned is not None:
        never = ops.logical_or(never, banned)
    end = ops.one_hot(EOT, vocab, dtype="bool")[None, :]
    log_end = ops.take(ops.log_softmax(ops.where(never, -np.inf, logits), axis=-1), EOT, axis=-1)[:, None]
    tempered = ops.where(ops.logical_or(never, end), -np.inf, logits / temperature)
    tempered = tempered - ops.logsumexp(tempered, axis=-1, keepdims=True)  # log-probabilities among characters
    rest = ops.where(allow_eot[:, None], ops.log1p(-ops.exp(ops.minimum(log_end, -1e-7))), 0.0)
    logits = ops.where(end, ops.where(allow_eot[:, None], log_end, -np.inf), tempered + rest)
    if 0 < options.top_k < vocab:
        kth = ops.top_k(logits, options.top_k)[0][:, -1:]
        logits = ops.where(logits < kth, -np.inf, logits)
    if options.top_p < 1:
        descending = ops.flip(ops.sort(logits, axis=-1), axis=-1)
        probabilities = ops.softmax(descending, axis=-1)
        keep = ops.cumsum(probabilities, axis=-1) - probabilities < options.top_p
        threshold = ops.min(ops.where(keep, descending, np.inf), axis=-1, keepdims=True)
        logits = ops.where(logits < threshold, -np.inf, logits)
    return logits


def _sample_step(weights, t, ids, done, state, chain, schedule, kinds, first, uniforms, options: SampleOptions, ops):
    """Step t of every stream: feed `ids`, and give position t + 1 (scheduled, or drawn with uniforms[t]),
    which streams have ended, the new state, and each stream's mentions in a row (`chain`; `kinds`:
    MENTION or SPACE per id, 0 for the rest)."""
    count = uniforms.shape[1]
    logits, state = lstm_step(weights, ids, state, ops)
    # The tweet's opening: its first character (at `first`) with no seed text before it, which may not be <eot>.
    opening = ops.logical_and(t + 1 == first, schedule[first - 1] == EOT)
    allow_eot = ops.broadcast_to(ops.logical_not(opening), (count,))
    banned = ops.logical_and((chain >= MENTION_RUN)[:, None], (kinds == MENTION)[None, :])
    logits = _sampling_logits(logits, options, allow_eot, ops, banned, opening)
    weights_ = ops.exp(logits - ops.max(logits, axis=-1, keepdims=True))  # no overflow at low --temp
    cumulative = ops.cumsum(weights_, axis=-1)
    target = uniforms[t][:, None] * cumulative[:, -1:]
    drawn = ops.minimum(ops.sum(ops.cast(cumulative <= target, "int32"), axis=-1), logits.shape[-1] - 1)
    scheduled = schedule[t + 1]
    next_ids = ops.where(scheduled >= 0, ops.broadcast_to(scheduled, (count,)), drawn)
    next_ids = ops.where(done, EOT, next_ids)
    done = ops.logical_or(done, ops.logical_and(t + 1 >= first, next_ids == EOT))
    kind = ops.take(kinds, next_ids)
    chain = ops.where(kind == MENTION, chain + 1, ops.where(kind == SPACE, chain, 0))
    return next_ids, done, state, chain


def _numpy_loop(weights: dict, schedule, kinds, first: int, uniforms: np.ndarray, state: list, options: SampleOptions):
    """The sampling loop a step at a time in NumPy: forced prime ids first, then drawn ones, until all end."""
    steps, count = uniforms.shape
    out = np.zeros((steps, count), np.int32)
    ids, done, chain = np.full(count, schedule[0], np.int32), np.zeros(count, bool), np.zeros(count, np.int32)
    for t in range(steps):
        ids, done, state, chain = _sample_step(
            weights, t, ids, done, state, chain, schedule, kinds, first, uniforms, options, numpy_ops
        )
        out[t] = ids
        if done.all():
            break
    return out


def _compiled_loop(options: SampleOptions):
    """The same loop as one `keras.ops` while loop, compiled by the backend."""
    from keras import ops

    def run(weights, schedule, kinds, first, uniforms, state):
        steps, count = uniforms.shape

        def cond(t, ids, out, done, state, chain):
            return ops.logical_and(t < steps, ops.logical_not(ops.all(done)))

        def body(t, ids, out, done, state, chain):
            next_ids, done, state, chain = _sample_step(
                weights, t, ids, done, state, chain, schedule, kinds, first, uniforms, options, ops
            )
            out = ops.slice_update(out, (t, 0), ops.expand_dims(next_ids, 0))
            return t + 1, next_ids, out, done, state, chain

        ids = ops.broadcast_to(schedule[0], (count,))
        out = ops.zeros((steps, count), "int32")
        done = ops.zeros((count,), "bool")
        chain = ops.zeros((count,), "int32")
        return ops.while_loop(cond, body, (0, ids, out, done, state, chain))[2]

    return _compile(run)


class Sampler:
    """A checkpoint's weights, stepped in NumPy or (`compiled`) on the backend by its compiled sampling
    loop, kept for the last sampling options used (the backend's compiler traces it again for a new
    number of streams or length). Both draw the same tweets from the same random numbers, but for a rare
    draw within float rounding of a boundary between two characters (docs/benchmarks.md)."""

    def __init__(self, ckpt: Checkpoint, compiled: bool = False, tweet_start: bool = True):
        """`tweet_start`: begin tweets from the checkpoint's tweet-start state (False: from zeros, as before
        checkpoints kept one; the quality benchmark compares the two)."""
        self.vocab, self.compiled = ckpt.vocab, compiled
        self.weights = LstmWeights.fold(ModelWeights.read(ckpt.weights, ckpt.config))
        self._start = ckpt.start_state() if tweet_start else None
        self._kinds = chain_kinds(self.vocab)  # the mention-chain rule's marks, per id
        self._tensors: dict | None = None
        self._compiled: dict = {}

    def sample(
        self, count: int, options: SampleOptions, guard: bool = True, rng: np.random.Generator | None = None
    ) -> list[str]:
        """`count` tweets (seed text included) as they may be posted: placeholders rendered, each at most
        max_len characters before rendering. With `guard`, a stream caught in a loop, or left empty once
        placeholders are dropped, is drawn again (at most REDRAWS times); without it (the quality
        benchmark's raw figures) the tweets come back raw, placeholders in. `rng`: where the random
        draws come from (default: seeded with --seed), so consecutive calls can go on from each other."""
        if count < 1:
            raise BotError(f"-n must be at least 1 (got {count})")
        self.check_seed_text(options)
        rng = rng or np.random.default_rng(options.seed)
        if not guard:
            return [text for text, _ in self._draw(count, options, rng)]
        tweets: list[str] = []
        for _ in range(1 + REDRAWS):
            drawn = self.candidates(count, options, rng)
            tweets += [rendered for raw, rendered, _ in drawn if not must_redraw(raw, rendered)]
            if len(tweets) >= count:
                return tweets[:count]
        failed = [rendered for raw, rendered, _ in drawn if must_redraw(raw, rendered)]
        return (tweets + failed)[:count]  # after REDRAWS tries, what the last draw gave, as it is

    def candidates(self, count: int, options: SampleOptions, rng: np.random.Generator) -> list[Candidate]:
        """`count` drawn tweets, raw and rendered without the invisible debris `bot prepare` drops from
        training tweets."""
        drawn = [(drop_debris(text), ended) for text, ended in self._draw(count, options, rng)]
        return [Candidate(raw, render(raw, options.link, options.mention), ended) for raw, ended in drawn]

    def start_state(self, count: int) -> list[np.ndarray]:
        """[h, c, ...] of `count` streams about to be fed the <eot> a tweet starts after."""
        if self._start is None:
            return self.weights.zero_state(count)
        return [np.repeat(part, count, axis=0) for part in self._start]

    def check_seed_text(self, options: SampleOptions) -> None:
        unknown = self.vocab.unknown(options.seed_text)
        if unknown:
            raise BotError(f"--seed-text has characters the model does not know: {''.join(unknown)!r}")

    def _draw(self, count: int, options: SampleOptions, rng: np.random.Generator) -> list[tuple[str, bool]]:
        """`count` raw tweets, placeholders still in, from one run of the sampling loop, each with whether
        the model ended it (drew <eot>) within max_len."""
        # What each position holds: <eot> (every tweet starts after one), the seed text, then -1 for
        # characters to draw.
        seed = self.vocab.encode(options.seed_text).astype(np.int32)
        generate = options.max_len - len(seed)
        schedule = np.concatenate([[EOT], seed, np.full(generate, -1)]).astype(np.int32)
        first = 1 + len(seed)  # position of the first drawn character
        steps = len(schedule) - 1
        uniforms = rng.random((steps, count), dtype=np.float32)
        out = self._run(schedule, first, uniforms, options)
        drawn = out[first - 1 :]
        tweets = []
        for stream in range(count):
            ids = drawn[:, stream]
            end = np.flatnonzero(ids == EOT)
            text = options.seed_text + self.vocab.decode(ids[: end[0] if len(end) else generate])
            tweets.append((text, len(end) > 0))
        return tweets

    def _run(self, schedule: np.ndarray, first: int, uniforms: np.ndarray, options: SampleOptions) -> np.ndarray:
        """(steps, streams) ids, from NumPy's loop or the compiled one."""
        count = uniforms.shape[1]
        if not self.compiled:
            state = self.start_state(count)
            return _numpy_loop(self.weights.as_dict(), schedule, self._kinds, first, uniforms, state, options)
        import_keras()
        from keras import ops

        key = (options.temperature, options.top_k, options.top_p)
        if key not in self._compiled:
            self._compiled = {key: _compiled_loop(options)}
        self._tensors = self._tensors or self.weights.as_dict(ops.convert_to_tensor)
        run = self._compiled[key]
        state = self.start_state(count)
        return ops.convert_to_numpy(run(self._tensors, schedule, self._kinds, np.int32(first), uniforms, state))


def _compile(function):
    """Compile a keras.ops function with the backend's compiler (XLA on TensorFlow, jit on JAX)."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(function)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=True)
    return function


class Generation:
    """Tweets as they are written, and what it took: candidates drawn and why the rejected ones were."""

    def __init__(self, sampler: Sampler, count: int, options: SampleOptions, filters: Filters | None):
        self.sampler, self.count, self.options, self.filters = sampler, count, options, filters
        self.drawn, self.passed, self.rejected = 0, 0, Counter()

    def __iter__(self) -> Iterator[str]:
        if self.filters is None:  # the degeneracy guard only, as the sampler applies it
            rng = np.random.default_rng(self.options.seed)
            for first in range(0, self.count, STREAMS):
                group = self.sampler.sample(min(STREAMS, self.count - first), self.options, rng=rng)
                self.drawn += len(group)
                self.passed += len(group)
                yield from group
            return
        yield from self._filtered()

    def report(self) -> str:
        """After the tweets, what they took: candidates drawn, passed and rejected by reason, and what the
        filters could not check (a checkpoint without an index of its tweets or words)."""
        rejected = ", ".join(f"{n} {reason}" for reason, n in self.rejected.most_common()) or "none"
        indexes = (("copies", self.filters.novelty), ("words", self.filters.words))
        missing = [what for what, index in indexes if index is None]  # an empty word list is still a list
        unchecked = f" ({' and '.join(missing)} not checked: the checkpoint has no index of them)" if missing else ""
        cost = f" ({self.drawn / self.passed:.1f} candidates a tweet)" if self.passed else ""
        return f"{self.passed} of {self.drawn} candidates passed the filters{cost}{unchecked}; rejected: {rejected}"

    def require_all(self) -> None:
        """Fail when fewer tweets passed the filters than were asked for (within the redraw budget)."""
        if self.passed < self.count:
            raise BotError(f"only {self.passed} of {self.count} tweets passed the filters in {self.drawn} candidates")

    def _filtered(self) -> Iterator[str]:
        """Draw groups until `count` candidates passed every filter, or (1 + REDRAWS) × count were drawn.

        A group holds a quarter more than still missing, plus one: about 83 % pass at --temp 0.8
        (docs/benchmarks.md), so one group is nearly always enough, and a second costs a whole tweet's
        time, while a few more streams in the same group cost little."""
        rng = np.random.default_rng(self.options.seed)
        budget = (1 + REDRAWS) * self.count
        while self.passed < self.count and self.drawn < budget:
            missing = self.count - self.passed
            wanted = min(STREAMS, missing + missing // 4 + 1, budget - self.drawn)
            for raw, rendered, ended in self.sampler.candidates(wanted, self.options, rng):
                if self.passed == self.count:
                    break
                self.drawn += 1
                reason = self.filters.rejection(raw, rendered, ended)
                if reason:
                    self.rejected[reason] += 1
                    continue
                self.passed += 1
                yield rendered


def generate(
    ckpt: Checkpoint, count: int = 1, options: SampleOptions = SampleOptions(), filters: Filters | None = None
) -> Generation:
    """`count` tweets from a checkpoint, written STREAMS at a time in parallel and handed out as each
    group is ready: memory stays bounded however large `count` is. Bad options fail before the first.
    With `filters`, only candidates passing them are handed out (fewer, if too few pass in time)."""
    if count < 1:
        raise BotError(f"-n must be at least 1 (got {count})")
    sampler = Sampler(ckpt, compiled=count >= COMPILED_FROM)
    sampler.check_seed_text(options)
    return Generation(sampler, count, options, filters)
