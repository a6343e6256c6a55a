"""The model's weights and its fused LSTM step without Keras: read from a checkpoint's weights file with
h5py, stepped with NumPy (or `keras.ops`, inside the compiled sampler).

Importing Keras and starting a backend takes 2–3 s, and a tweet is ~300 steps of a few small matrix
products: sampling a few tweets and exporting read the weights file themselves, in the layout Keras
writes it. Keras stays the source of truth: the tests hold this step to the Keras model (≤1e-5 per step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np

from twitterbot.config import Config
from twitterbot.corpus.vocab import EOT
from twitterbot.errors import BotError

# Keras's weights file: a group per layer, named after its class in snake case (`lstm`, then `lstm_1`, …).
EMBEDDING_VARS = "layers/embedding/vars"
DENSE_VARS = "layers/dense/vars"


def lstm_vars(index: int) -> str:
    return f"layers/lstm{f'_{index}' if index else ''}/cell/vars"


def weight_shapes(config: Config) -> list[tuple[int, ...]]:
    """The shapes of the model's weights, from the config alone: a damaged config.json is caught
    against the weights file before a model of its size is built."""
    shapes: list[tuple[int, ...]] = [(config.vocab_size, config.embedding_size)]
    inputs = config.embedding_size
    for _ in range(config.num_layers):
        units = config.rnn_size
        shapes += [(inputs, 4 * units), (units, 4 * units), (4 * units,)]
        inputs = units
    return shapes + [(config.rnn_size, config.vocab_size), (config.vocab_size,)]


def parameters(config: Config) -> int:
    """How many numbers the model has: what one character's step costs follows it."""
    return sum(math.prod(shape) for shape in weight_shapes(config))


def refuse_links(h5: h5py.File, path: Path) -> None:
    """A weights file must hold its weights itself: a soft or external link (an external one reads another
    file) is refused, as Keras's own loader refuses them."""
    try:
        linked = h5.visititems_links(lambda name, link: None if isinstance(link, h5py.HardLink) else name)
    except (RuntimeError, SystemError) as error:  # a damaged link table (h5py wraps some in SystemError)
        raise BotError(f"{path}: cannot load weights ({str(error)[:200]})") from None
    if linked is not None:
        raise BotError(f"{path}: {linked[:80]} is a link, not weights stored in the file: a damaged or foreign file")


def stored_precision(path: Path) -> str:
    """What a Keras weights file holds its weights as: "float16" (the bundled model) or "float32"."""
    try:
        with h5py.File(path, "r") as h5:
            refuse_links(h5, path)
            return "float16" if h5[f"{EMBEDDING_VARS}/0"].dtype == np.float16 else "float32"
    except (OSError, KeyError, RuntimeError) as error:
        raise BotError(f"{path}: cannot load weights ({str(error)[:200]})") from None


def require_finite(path: Path, arrays) -> None:
    if not all(np.isfinite(array).all() for array in arrays):
        raise BotError(
            f"{path}: weights are not finite numbers (NaN or infinity: the run diverged); "
            "train again with a lower --learning-rate"
        )


@dataclass(frozen=True)
class ModelWeights:
    """A model's weights as float32 NumPy arrays, by role: what the sampler and the exporter read."""

    embedding: np.ndarray  # (vocab, embedding)
    lstms: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]  # (kernel, recurrent, bias), lowest first
    dense: tuple[np.ndarray, np.ndarray]  # (units, vocab), (vocab,)

    @classmethod
    def read(cls, path: Path, config: Config) -> ModelWeights:
        """The weights in a Keras weights file of a model built from `config` (shapes checked by
        checkpoint.open_checkpoint); NaN weights are refused."""

        def arrays(h5: h5py.File, group: str, count: int) -> tuple[np.ndarray, ...]:
            return tuple(h5[f"{group}/{index}"][()] for index in range(count))

        try:
            with h5py.File(path, "r") as h5:
                refuse_links(h5, path)
                embedding = arrays(h5, EMBEDDING_VARS, 1)
                lstms = tuple(arrays(h5, lstm_vars(index), 3) for index in range(config.num_layers))
                dense = arrays(h5, DENSE_VARS, 2)
        except (OSError, KeyError, TypeError, RuntimeError) as error:  # h5py: RuntimeError for a damaged heap
            raise BotError(f"{path}: cannot load weights ({str(error)[:200]})") from None
        require_finite(path, [*embedding, *(w for layer in lstms for w in layer), *dense])

        def plain(weights: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
            return tuple(w.astype(np.float32) for w in weights)

        return cls(plain(embedding)[0], tuple(plain(layer) for layer in lstms), plain(dense))


@dataclass(frozen=True)
class LstmWeights:
    """The weights laid out for a fused step.

    The first layer's input part is folded into a table: row v is embedding[v] · kernel + bias, so
    a step starts with a row lookup instead of a matmul. Deeper layers keep (kernel, recurrent, bias).
    """

    input_table: np.ndarray  # (vocab, 4 units) for the first LSTM
    layers: tuple[tuple[np.ndarray | None, np.ndarray, np.ndarray | None], ...]  # (kernel, recurrent, bias)
    dense: tuple[np.ndarray, np.ndarray]  # (units, vocab), (vocab,)

    @classmethod
    def fold(cls, weights: ModelWeights) -> LstmWeights:
        (kernel, recurrent, bias), *deeper = weights.lstms
        table = (weights.embedding.astype(np.float64) @ kernel.astype(np.float64) + bias).astype(np.float32)
        return cls(table, ((None, recurrent, None), *deeper), weights.dense)

    def as_dict(self, convert=np.asarray) -> dict:
        """What `lstm_step` reads, each array through `convert` (to the backend's tensors, for the compiled loop)."""
        return {
            "input_table": convert(self.input_table),
            "layers": [tuple(None if w is None else convert(w) for w in layer) for layer in self.layers],
            "dense": tuple(convert(w) for w in self.dense),
        }

    def zero_state(self, count: int) -> list[np.ndarray]:
        """[h, c] for each layer, flattened."""
        return [np.zeros((count, recurrent.shape[0]), np.float32) for _, recurrent, _ in self.layers for _ in range(2)]


# What tweet_start_state reads: lanes spread over the training stream, each read from a zeroed state for
# BURN_IN characters (left out: training rarely saw a zeroed state) and then START_STATE_STEPS more.
START_STATE_LANES = 64
START_STATE_STEPS = 2048  # 64 × 2,048 characters: ~1,600 tweet ends of everyday tweets, ~5 s for a 1 × 512
BURN_IN = 256


def tweet_start_state(weights: LstmWeights, stream: np.ndarray) -> list[np.ndarray] | None:
    """The mean LSTM state [h, c, ...] (one row each) just before <eot> is fed at a tweet's end, over
    the training text: the state generation starts from. Training carries the state across tweets, so a
    zeroed state is one the model almost never saw, and tweets begun from it opened with gibberish and
    capitals (docs/base-model.md). None when the stream has no tweet end past the burn-in."""
    lanes = min(START_STATE_LANES, max(1, (len(stream) - 1) // (BURN_IN + 1)))
    steps = min(BURN_IN + START_STATE_STEPS, (len(stream) - 1) // lanes)
    starts = np.arange(lanes) * ((len(stream) - 1) // lanes)
    ids = np.stack([np.asarray(stream[start : start + steps + 1], dtype=np.int32) for start in starts])
    step_weights, state = weights.as_dict(), weights.zero_state(lanes)
    totals, count = [np.zeros(part.shape[1], np.float64) for part in state], 0
    for t in range(steps):
        _, state = lstm_step(step_weights, ids[:, t], state, numpy_ops)
        ending = ids[:, t + 1] == EOT
        if t >= min(BURN_IN, steps // 2) and ending.any():
            totals = [total + part[ending].sum(axis=0) for total, part in zip(totals, state, strict=True)]
            count += int(ending.sum())
    return [(total / count).astype(np.float32)[None, :] for total in totals] if count else None


def lstm_cell(inputs, h, c, recurrent, ops) -> tuple[object, object]:
    """One LSTM step from its input's projection (x · kernel + bias): the new (h, c). Gate order is
    Keras's: input, forget, cell, output. Sampling's step and CarriedLSTM's TensorFlow loop both run it."""
    i, f, g, o = ops.split(inputs + ops.matmul(h, recurrent), 4, axis=-1)
    c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
    return ops.sigmoid(o) * ops.tanh(c), c


def lstm_step(weights: dict, ids, state: list, ops) -> tuple[object, list]:
    """One character for every stream: ids (n,) → logits (n, vocab) and the new [h, c, ...] state.

    `ops` is `keras.ops` (inside the compiled loop, on any backend) or `numpy_ops`. Gate order is
    Keras's: input, forget, cell, output.
    """
    x = None
    new_state = []
    for index, (kernel, recurrent, bias) in enumerate(weights["layers"]):
        h, c = state[2 * index], state[2 * index + 1]
        inputs = ops.take(weights["input_table"], ids, axis=0) if index == 0 else ops.matmul(x, kernel) + bias
        h, c = lstm_cell(inputs, h, c, recurrent, ops)
        new_state += [h, c]
        x = h
    kernel, bias = weights["dense"]
    return ops.matmul(x, kernel) + bias, new_state


def _logsumexp(x: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    top = np.max(x, axis=axis, keepdims=True)
    total = top + np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True))
    return total if keepdims else np.squeeze(total, axis=axis)


def _top_k(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, order, axis=-1), order


# The part of `keras.ops` that lstm_step and the sampling rules use, on NumPy, float32 kept float32.
numpy_ops = SimpleNamespace(
    **{
        name: getattr(np, name)
        for name in (
            "take",
            "matmul",
            "split",
            "tanh",
            "where",
            "exp",
            "log1p",
            "minimum",
            "flip",
            "sort",
            "cumsum",
            "min",
            "max",
            "sum",
            "broadcast_to",
            "logical_or",
            "logical_and",
            "logical_not",
            "all",
        )
    },  # fmt: skip
    sigmoid=lambda x: 0.5 + 0.5 * np.tanh(0.5 * x),  # no overflow warning for large -x
    one_hot=lambda index, count, dtype: (np.arange(count) == index).astype(dtype),
    logsumexp=_logsumexp,
    log_softmax=lambda x, axis=-1: x - _logsumexp(x, axis=axis, keepdims=True),
    softmax=lambda x, axis=-1: np.exp(x - _logsumexp(x, axis=axis, keepdims=True)),
    top_k=_top_k,
    cast=lambda x, dtype: np.asarray(x).astype(dtype),
)
