"""`bot generate`: sample tweets from a checkpoint, n parallel streams in one batch.

Sampling runs on an inference copy of the model rebuilt for n streams, stepped one character at a
time. Each stream starts from the end-of-tweet state (as every tweet did in training), is primed
with the seed text, and stops at <eot> or at the length limit; <unk> is never drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checkpoint import Checkpoint
from .errors import BotError
from .model import reset_states
from .vocab import EOT, UNK


@dataclass(frozen=True)
class SampleOptions:
    temperature: float = 0.8
    top_k: int = 0  # 0: no limit
    top_p: float = 1.0
    max_len: int = 280
    seed_text: str = ""
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise BotError(f"--temp must be greater than 0 (got {self.temperature})")
        if self.top_k < 0:
            raise BotError(f"--top-k must be 0 (off) or positive (got {self.top_k})")
        if not 0 < self.top_p <= 1:
            raise BotError(f"--top-p must be in (0, 1] (got {self.top_p})")
        if self.max_len < 1:
            raise BotError(f"--max-len must be at least 1 (got {self.max_len})")
        if len(self.seed_text) >= self.max_len:
            raise BotError(
                f"--seed-text is {len(self.seed_text)} characters, it must be shorter than --max-len ({self.max_len})"
            )


def shape_distribution(probabilities: np.ndarray, options: SampleOptions, allow_eot: np.ndarray) -> np.ndarray:
    """Turn the model's next-character probabilities (n, vocab) into what we draw from.

    Temperature rescales log-probabilities; <unk> is removed; top-k and top-p keep the most likely
    characters; <eot> is removed for streams that have no character yet (no empty tweets).
    """
    logits = np.log(np.maximum(probabilities.astype(np.float64), 1e-30)) / options.temperature
    logits[:, UNK] = -np.inf
    logits[~allow_eot, EOT] = -np.inf
    if options.top_k and options.top_k < logits.shape[1]:
        kth = np.partition(logits, -options.top_k, axis=1)[:, -options.top_k][:, None]
        logits[logits < kth] = -np.inf
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    if options.top_p < 1:
        order = np.argsort(-weights, axis=1)
        sorted_weights = np.take_along_axis(weights, order, axis=1)
        # Keep each character whose preceding mass is below top_p: the smallest set reaching it.
        keep_sorted = np.cumsum(sorted_weights, axis=1) - sorted_weights < options.top_p
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=1)
        weights = np.where(keep, weights, 0.0)
        weights /= weights.sum(axis=1, keepdims=True)
    return weights


def draw(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One id per row, drawn from each row's distribution."""
    cumulative = np.cumsum(weights, axis=1)
    picks = (cumulative < rng.random((len(weights), 1)) * cumulative[:, -1:]).sum(axis=1)
    return np.minimum(picks, weights.shape[1] - 1)


def generate(ckpt: Checkpoint, count: int = 1, options: SampleOptions = SampleOptions()) -> list[str]:
    """`count` tweets (seed text included), each at most max_len characters."""
    if count < 1:
        raise BotError(f"-n must be at least 1 (got {count})")
    unknown = ckpt.vocab.unknown(options.seed_text)
    if unknown:
        raise BotError(f"--seed-text has characters the model does not know: {''.join(unknown)!r}")
    rng = np.random.default_rng(options.seed)
    model = ckpt.load_model(count)
    reset_states(model)
    prime = np.concatenate([[EOT], ckpt.vocab.encode(options.seed_text)]).astype(np.int32)
    probabilities = model.predict_on_batch(np.tile(prime, (count, 1)))[:, -1, :]
    generated: list[list[int]] = [[] for _ in range(count)]
    active = np.ones(count, bool)
    for _ in range(options.max_len - len(options.seed_text)):
        allow_eot = np.array([len(ids) > 0 for ids in generated]) | bool(options.seed_text)
        ids = draw(shape_distribution(probabilities, options, allow_eot), rng)
        active &= ids != EOT
        if not active.any():
            break
        for stream in np.flatnonzero(active):
            generated[stream].append(int(ids[stream]))
        probabilities = model.predict_on_batch(ids.reshape(count, 1).astype(np.int32))[:, -1, :]
    return [options.seed_text + ckpt.vocab.decode(ids) for ids in generated]
