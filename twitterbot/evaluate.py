"""`bot evaluate`: a checkpoint's loss, bits per character and perplexity on one split of a data folder."""

from __future__ import annotations

import math
from pathlib import Path

from .batches import LaneBatches, lane_length, open_split
from .checkpoint import open_checkpoint
from .data import SPLITS, open_data, require_vocab
from .errors import BotError
from .model import LOSS, reset_states


def evaluate(checkpoint_path: Path | None, data_path: Path, split: str = "test") -> dict:
    """Mean next-character loss in nats/char over the split, read as continuous lanes."""
    if split not in SPLITS:
        raise BotError(f"--split must be one of {', '.join(SPLITS)} (got {split!r})")
    ckpt = open_checkpoint(checkpoint_path)
    data = open_data(data_path)
    require_vocab(data, ckpt.vocab, ckpt.path)
    length, seq_len = data.lengths[split], ckpt.config.seq_len
    # Fewer lanes than training when the split is small: each lane then still holds whole windows.
    batch_size = max(1, min(ckpt.config.batch_size, (length - 1) // seq_len))
    batches = LaneBatches(open_split(data.h5_path, split), batch_size, seq_len, what=f"{data.path} split {split!r}")
    model = ckpt.load_model(batch_size, seq_len)
    model.compile(loss=LOSS)
    reset_states(model)
    loss = float(model.evaluate(batches, verbose=0))
    return {
        "checkpoint": str(ckpt.path),
        "data": str(data.path),
        "split": split,
        "chars": batch_size * lane_length(length, batch_size, seq_len),
        "loss": loss,
        "bits_per_char": loss / math.log(2),
        "perplexity": math.exp(loss),
    }
