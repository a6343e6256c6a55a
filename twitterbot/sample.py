"""`bot generate`: sample tweets from a checkpoint, n parallel streams, Python out of the per-character path.

The whole sample (fused LSTM step: one matmul per layer for all gates and an embedding-row lookup;
temperature, top-k, top-p; <unk> masked; no empty tweet; stop at <eot>) is one `keras.ops` while
loop compiled by the backend (XLA through `tf.function(jit_compile=True)`, or `jax.jit`). Random
draws are made up front with NumPy, so `--seed` gives the same tweets on every backend. Keras stays
the source of truth: tests check the fused step's probabilities against the Keras model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from .checkpoint import Checkpoint
from .config import SampleOptions
from .errors import BotError
from .filters import Filters, must_redraw
from .model import ModelWeights
from .vocab import EOT, UNK, render

REDRAWS = 10  # a stream caught in a loop is drawn again at most this many times
STREAMS = 256  # tweets drawn in parallel at most; a larger -n is drawn in groups of this many


@dataclass(frozen=True)
class LstmWeights:
    """The checkpoint's weights laid out for a fused step.

    The first layer's input part is folded into a table: row v is embedding[v] · kernel + bias, so
    a step starts with a row lookup instead of a matmul. Deeper layers keep (kernel, recurrent, bias).
    """

    input_table: np.ndarray  # (vocab, 4 units) for the first LSTM
    layers: tuple[tuple[np.ndarray | None, np.ndarray, np.ndarray | None], ...]  # (kernel, recurrent, bias)
    dense: tuple[np.ndarray, np.ndarray]  # (units, vocab), (vocab,)

    @classmethod
    def from_checkpoint(cls, ckpt: Checkpoint) -> LstmWeights:
        weights = ModelWeights.of(ckpt.load_model(1, 1))
        (kernel, recurrent, bias), *deeper = weights.lstms
        table = (weights.embedding.astype(np.float64) @ kernel.astype(np.float64) + bias).astype(np.float32)
        return cls(table, ((None, recurrent, None), *deeper), weights.dense)

    def zero_state(self, count: int) -> list[np.ndarray]:
        """[h, c] for each layer, flattened."""
        return [np.zeros((count, recurrent.shape[0]), np.float32) for _, recurrent, _ in self.layers for _ in range(2)]


def lstm_step(weights, ids, state: list) -> tuple[object, list]:
    """One character for every stream: ids (n,) → logits (n, vocab) and the new [h, c, ...] state.

    Written with `keras.ops`, so it runs eagerly (the parity tests) and inside the compiled loop on
    any backend. Gate order is Keras's: input, forget, cell, output.
    """
    x = None
    new_state = []
    for index, (kernel, recurrent, bias) in enumerate(weights["layers"]):
        h, c = state[2 * index], state[2 * index + 1]
        inputs = ops.take(weights["input_table"], ids, axis=0) if index == 0 else ops.matmul(x, kernel) + bias
        i, f, g, o = ops.split(inputs + ops.matmul(h, recurrent), 4, axis=-1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        new_state += [h, c]
        x = h
    kernel, bias = weights["dense"]
    return ops.matmul(x, kernel) + bias, new_state


def _sampling_logits(logits, options: SampleOptions, allow_eot):
    """Temperature, <unk> and early-<eot> masks, top-k and top-p, as logits with -inf where excluded.

    Temperature reshapes which character comes next, not when the tweet ends: <eot> keeps the
    model's own probability (without <unk>) and the other characters share the rest, tempered.
    Plain temperature scaling made tweets at --temp 0.5 run to the length cap, since the end is
    rarely the single likeliest character.
    """
    vocab = logits.shape[-1]
    never = ops.one_hot(UNK, vocab, dtype="bool")[None, :]
    end = ops.one_hot(EOT, vocab, dtype="bool")[None, :]
    log_end = ops.take(ops.log_softmax(ops.where(never, -np.inf, logits), axis=-1), EOT, axis=-1)[:, None]
    tempered = ops.where(ops.logical_or(never, end), -np.inf, logits / options.temperature)
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


class Sampler:
    """A checkpoint's weights on the backend and its compiled sampling loop, kept for the last sampling
    options used (the backend's compiler traces it again for a new number of streams or length)."""

    def __init__(self, ckpt: Checkpoint):
        self.vocab = ckpt.vocab
        numpy_weights = LstmWeights.from_checkpoint(ckpt)
        self.zero_state = numpy_weights.zero_state
        self.weights = {
            "input_table": ops.convert_to_tensor(numpy_weights.input_table),
            "layers": [
                tuple(None if w is None else ops.convert_to_tensor(w) for w in layer) for layer in numpy_weights.layers
            ],
            "dense": tuple(ops.convert_to_tensor(w) for w in numpy_weights.dense),
        }
        self._compiled: dict = {}

    def _loop(self, options: SampleOptions):
        """The sampling loop for these options: forced prime ids first, then drawn ones, until all end."""

        def run(weights, schedule, first, uniforms, state):
            steps, count = uniforms.shape

            def cond(t, ids, out, done, state):
                return ops.logical_and(t < steps, ops.logical_not(ops.all(done)))

            def body(t, ids, out, done, state):
                logits, state = lstm_step(weights, ids, state)
                # Step t yields position t + 1: scheduled (>= 0) or drawn. The tweet's first character
                # (at `first`) may not be <eot> unless seed text came before it.
                allow_eot = ops.broadcast_to(ops.logical_or(t + 1 != first, schedule[first - 1] != EOT), (count,))
                logits = _sampling_logits(logits, options, allow_eot)
                weights_ = ops.exp(logits - ops.max(logits, axis=-1, keepdims=True))  # no overflow at low --temp
                cumulative = ops.cumsum(weights_, axis=-1)
                target = uniforms[t][:, None] * cumulative[:, -1:]
                drawn = ops.minimum(ops.sum(ops.cast(cumulative <= target, "int32"), axis=-1), logits.shape[-1] - 1)
                scheduled = schedule[t + 1]
                next_ids = ops.where(scheduled >= 0, ops.broadcast_to(scheduled, (count,)), drawn)
                next_ids = ops.where(done, EOT, next_ids)
                done = ops.logical_or(done, ops.logical_and(t + 1 >= first, next_ids == EOT))
                out = ops.slice_update(out, (t, 0), ops.expand_dims(next_ids, 0))
                return t + 1, next_ids, out, done, state

            ids = ops.broadcast_to(schedule[0], (count,))
            out = ops.zeros((steps, count), "int32")
            done = ops.zeros((count,), "bool")
            return ops.while_loop(cond, body, (0, ids, out, done, state))[2]

        return _compile(run)

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
            return self._draw(count, options, rng)
        tweets: list[str] = []
        for _ in range(1 + REDRAWS):
            drawn = self.candidates(count, options, rng)
            tweets += [rendered for raw, rendered in drawn if not must_redraw(raw, rendered)]
            if len(tweets) >= count:
                return tweets[:count]
        failed = [rendered for raw, rendered in drawn if must_redraw(raw, rendered)]
        return (tweets + failed)[:count]  # after REDRAWS tries, what the last draw gave, as it is

    def candidates(self, count: int, options: SampleOptions, rng: np.random.Generator) -> list[tuple[str, str]]:
        """`count` drawn tweets, each as (raw: placeholders in, rendered: as it would be shown)."""
        return [(raw, render(raw, options.link, options.mention)) for raw in self._draw(count, options, rng)]

    def check_seed_text(self, options: SampleOptions) -> None:
        unknown = self.vocab.unknown(options.seed_text)
        if unknown:
            raise BotError(f"--seed-text has characters the model does not know: {''.join(unknown)!r}")

    def _draw(self, count: int, options: SampleOptions, rng: np.random.Generator) -> list[str]:
        """`count` raw tweets, placeholders still in, from one run of the compiled loop."""
        # What each position holds: <eot> (every tweet starts after one), the seed text, then -1 for
        # characters to draw.
        seed = self.vocab.encode(options.seed_text).astype(np.int32)
        generate = options.max_len - len(seed)
        schedule = np.concatenate([[EOT], seed, np.full(generate, -1)]).astype(np.int32)
        first = 1 + len(seed)  # position of the first drawn character
        steps = len(schedule) - 1
        uniforms = rng.random((steps, count), dtype=np.float32)
        key = (options.temperature, options.top_k, options.top_p)
        if key not in self._compiled:
            self._compiled = {key: self._loop(options)}
        out = ops.convert_to_numpy(
            self._compiled[key](self.weights, schedule, np.int32(first), uniforms, self.zero_state(count))
        )
        drawn = out[first - 1 :]
        tweets = []
        for stream in range(count):
            ids = drawn[:, stream]
            end = np.flatnonzero(ids == EOT)
            tweets.append(options.seed_text + self.vocab.decode(ids[: end[0] if len(end) else generate]))
        return tweets


def _compile(function):
    """Compile a keras.ops function with the backend's compiler (XLA on TensorFlow, jit on JAX)."""
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

    def _filtered(self) -> Iterator[str]:
        """Draw groups until `count` candidates passed every filter, or (1 + REDRAWS) × count were drawn."""
        rng = np.random.default_rng(self.options.seed)
        budget = (1 + REDRAWS) * self.count
        while self.passed < self.count and self.drawn < budget:
            wanted = min(STREAMS, self.count - self.passed, budget - self.drawn)
            for raw, rendered in self.sampler.candidates(wanted, self.options, rng):
                self.drawn += 1
                reason = self.filters.rejection(raw, rendered)
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
    sampler = Sampler(ckpt)
    sampler.check_seed_text(options)
    return Generation(sampler, count, options, filters)
