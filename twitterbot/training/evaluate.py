"""`bot evaluate`: a checkpoint's loss, bits per character and perplexity on one split of a data folder."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from twitterbot.corpus.datafolder import SPLITS, open_data, require_vocab
from twitterbot.errors import BotError
from twitterbot.training.checkpoint import open_checkpoint
from twitterbot.training.model import LOSS, reset_states

# Each lane starts with the LSTM state zeroed, and the first characters after that cost more (the
# bundled model: ~12 nats in all, mostly in the first 32). Lanes at least this long keep that under
# 0.003 nats/char, so a small account's loss does not depend on the batch size a model trained at:
# 128 lanes of ~100 characters had added ~0.12 nats/char to the bundled model's figures.
MIN_LANE_CHARS = 4096


@dataclass(frozen=True)
class Evaluation:
    """A checkpoint's mean next-character loss on a data split, in the units people quote."""

    checkpoint: str
    data: str
    split: str
    chars: int
    loss: float  # nats per character
    bits_per_char: float
    perplexity: float


def evaluation_lanes(split_length: int, batch_size: int) -> int:
    """The checkpoint's batch size, or fewer lanes when the split is small, each then at least MIN_LANE_CHARS
    long (one lane when the whole split is shorter than that)."""
    return max(1, min(batch_size, (split_length - 1) // MIN_LANE_CHARS))


def evaluate(checkpoint_path: Path | None, data_path: Path, split: str = "test") -> Evaluation:
    """Mean next-character loss in nats/char over the split, read as continuous lanes (`evaluation_lanes`)."""
    if split not in SPLITS:
        raise BotError(f"--split must be one of {', '.join(SPLITS)} (got {split!r})")
    ckpt = open_checkpoint(checkpoint_path)
    data = open_data(data_path)
    require_vocab(data, ckpt.vocab, ckpt.path)
    length, seq_len = data.lengths[split], ckpt.config.seq_len
    batch_size = evaluation_lanes(length, ckpt.config.batch_size)
    batches = data.batches(split, batch_size, seq_len)
    model = ckpt.load_model(batch_size, seq_len)
    model.compile(loss=LOSS)
    reset_states(model)
    loss = float(model.evaluate(batches, verbose=0))
    return Evaluation(
        checkpoint=str(ckpt.path),
        data=str(data.path),
        split=split,
        chars=batch_size * batches.lane_len,
        loss=loss,
        bits_per_char=loss / math.log(2),
        perplexity=math.exp(loss),
    )
