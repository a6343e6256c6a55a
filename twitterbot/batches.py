"""Batches for a stateful RNN: `batch_size` contiguous lanes, batch i holds window i of every lane.

Lane b of batch i+1 continues exactly where lane b of batch i ended, so the LSTM state carried
between batches always belongs to the text that follows. Lanes tile the stream end to end; only
the final remainder (shorter than one batch) is left out.
"""

from __future__ import annotations

import keras
import numpy as np

from .errors import BotError

WINDOWS_PER_READ = 64  # windows read from disk at once per lane: few reads, bounded memory


def lane_length(stream_length: int, batch_size: int, seq_len: int) -> int:
    """Characters per lane: a whole number of windows, with one more id needed for the last target."""
    return ((stream_length - 1) // batch_size // seq_len) * seq_len


def check_fits(stream_length: int, batch_size: int, seq_len: int, what: str) -> None:
    if stream_length <= 1:
        raise BotError(f"{what} is empty (prepared with --validate 0 or --test 0?): prepare it with a share above 0")
    if lane_length(stream_length, batch_size, seq_len) <= 0:
        needed = batch_size * seq_len + 1
        raise BotError(
            f"{what} has {stream_length} characters, fewer than one batch needs "
            f"(batch size {batch_size} × seq len {seq_len} + 1 = {needed}): lower --batch-size or --seq-len"
        )


class LaneBatches(keras.utils.PyDataset):
    """(x, y) windows of one id stream, where y is x shifted by one character."""

    def __init__(self, stream, batch_size: int, seq_len: int, what: str = "the stream", first: int = 0, **kwargs):
        """`first`: start at this batch (the rest of an epoch that was interrupted there)."""
        super().__init__(**kwargs)
        check_fits(len(stream), batch_size, seq_len, what)
        self.stream, self.batch_size, self.seq_len, self.first = stream, batch_size, seq_len, first
        self.lane_len = lane_length(len(stream), batch_size, seq_len)
        self._block, self._rows = -1, None

    def __len__(self) -> int:
        return self.lane_len // self.seq_len - self.first

    def _read_block(self, block: int) -> np.ndarray:
        """Windows [block*W, (block+1)*W) of every lane, plus each lane's next id, as one array."""
        start = block * WINDOWS_PER_READ * self.seq_len
        end = min(start + WINDOWS_PER_READ * self.seq_len, self.lane_len)
        return np.stack(
            [
                self.stream[lane * self.lane_len + start : lane * self.lane_len + end + 1]
                for lane in range(self.batch_size)
            ]
        )

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        index += self.first
        block, window = divmod(index, WINDOWS_PER_READ)
        if block != self._block:
            self._rows, self._block = self._read_block(block).astype(np.int32), block
        offset = window * self.seq_len
        return self._rows[:, offset : offset + self.seq_len], self._rows[:, offset + 1 : offset + self.seq_len + 1]
