"""Batches for a stateful RNN: `batch_size` contiguous lanes, batch i holds window i of every lane.

Lane b of batch i+1 continues exactly where lane b of batch i ended, so the LSTM state carried
between batches always belongs to the text that follows. Lanes tile the stream end to end; only
the final remainder (shorter than one batch) is left out. Lanes read for a loss figure (validation,
test) can instead start at tweets (`tweet_lanes`): each lane starts from a zeroed state, and one cut
mid-word could send the model off for thousands of characters (docs/base-model.md).
"""

from __future__ import annotations

import keras
import numpy as np

from twitterbot.corpus.vocab import EOT
from twitterbot.errors import BotError

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


def tweet_lanes(stream, batch_size: int, seq_len: int) -> tuple[np.ndarray, int] | None:
    """Lane starts at tweets near where the tiling would start them, and the lane length all of them have
    room for; None where the stream has too few tweets for that to keep half of its characters (tweets
    longer than lanes). The first lane starts at the stream's first tweet, the others at an <eot>: they
    are fed it first, as generation starts a tweet."""
    ids = np.asarray(stream[()])
    plain = lane_length(len(ids), batch_size, seq_len)
    tweets = np.concatenate([[0], np.flatnonzero(ids[1:-1] == EOT) + 1])
    if len(tweets) < batch_size:
        return None
    nominal = (len(ids) - 1) // batch_size
    starts = tweets[np.searchsorted(tweets, np.arange(batch_size) * nominal).clip(max=len(tweets) - 1)]
    room = np.diff(np.append(starts, len(ids) - 1)).min()
    length = (room // seq_len) * seq_len
    return (starts, int(length)) if length >= max(seq_len, plain // 2) else None


class LaneBatches(keras.utils.PyDataset):
    """(x, y) windows of one id stream, where y is x shifted by one character."""

    def __init__(
        self,
        stream,
        batch_size: int,
        seq_len: int,
        what: str = "the stream",
        first: int = 0,
        at_tweets: bool = False,
        **kwargs,
    ):
        """`first`: start at this batch (the rest of an epoch that was interrupted there); `at_tweets`:
        lanes start at tweets (`tweet_lanes`) where the stream has enough of them."""
        super().__init__(**kwargs)
        check_fits(len(stream), batch_size, seq_len, what)
        self.stream, self.batch_size, self.seq_len, self.first = stream, batch_size, seq_len, first
        aligned = tweet_lanes(stream, batch_size, seq_len) if at_tweets else None
        if aligned is None:
            self.lane_len = lane_length(len(stream), batch_size, seq_len)
            self.starts = np.arange(batch_size) * self.lane_len
        else:
            self.starts, self.lane_len = aligned
        self._block, self._rows = -1, None

    def __len__(self) -> int:
        return self.lane_len // self.seq_len - self.first

    def _read_block(self, block: int) -> np.ndarray:
        """Windows [block*W, (block+1)*W) of every lane, plus each lane's next id, as one array."""
        start = block * WINDOWS_PER_READ * self.seq_len
        end = min(start + WINDOWS_PER_READ * self.seq_len, self.lane_len)
        return np.stack([self.stream[lane + start : lane + end + 1] for lane in self.starts.tolist()])

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        index += self.first
        block, window = divmod(index, WINDOWS_PER_READ)
        if block != self._block:
            self._rows, self._block = self._read_block(block).astype(np.int32), block
        offset = window * self.seq_len
        return self._rows[:, offset : offset + self.seq_len], self._rows[:, offset + 1 : offset + self.seq_len + 1]
