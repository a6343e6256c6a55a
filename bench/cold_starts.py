"""How often a model's loss collapses when it starts from a zeroed state: mid-text, or at a tweet's start.

`bot evaluate` reads a split as lanes that each start from a zeroed LSTM state wherever the lane
begins, mid-tweet as often as not; generation always starts at a tweet's start (<eot> first). A
model trained with its state carried rarely sees a zeroed state mid-text, and the bundled 1 × 512
can fall into a state it never leaves (~16 nats/char for the rest of the lane: one lane of 128
took its test figure from 1.5555 to 1.6715). This counts such starts: --starts random points of a
split, each read from a zeroed state for 512 characters; a start has collapsed when characters
256–512 cost more than 4 nats/char on average (a working model: ~1.6).

    python bench/cold_starts.py CKPT DATA_FOLDER [--split test] [--starts 2048] [--seed 1] [--at anywhere|tweet]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import numpy as np

from twitterbot.corpus.datafolder import open_data, require_vocab
from twitterbot.corpus.vocab import EOT
from twitterbot.training.checkpoint import open_checkpoint
from twitterbot.training.model import reset_states

WINDOW, WINDOWS = 32, 16  # 512 characters from each start
JUDGED_FROM = 256  # the first half is the model finding its feet
COLLAPSED = 4.0  # nats/char over the second half


def start_losses(ckpt_path: Path | None, data_path: Path, split: str, starts: int, seed: int, at: str) -> np.ndarray:
    """(starts,) mean loss over characters JUDGED_FROM..512 after each start, all read at once as lanes."""
    ckpt, data = open_checkpoint(ckpt_path), open_data(data_path)
    require_vocab(data, ckpt.vocab, ckpt.path)
    stream = np.asarray(data.split(split)).astype(np.int32)
    last = len(stream) - WINDOW * WINDOWS - 1
    rng = np.random.default_rng(seed)
    if at == "tweet":
        begins = rng.choice(np.flatnonzero(stream[:last] == EOT), starts, replace=False)
    else:
        begins = rng.integers(0, last, starts)
    model = ckpt.load_model(starts, WINDOW)
    reset_states(model)
    losses = []
    for window in range(WINDOWS):
        offsets = begins[:, None] + window * WINDOW + np.arange(WINDOW)
        logits = model.predict_on_batch(stream[offsets])
        loss = keras.losses.sparse_categorical_crossentropy(stream[offsets + 1], logits, from_logits=True)
        losses.append(keras.ops.convert_to_numpy(loss))
    return np.concatenate(losses, axis=1)[:, JUDGED_FROM:].mean(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="checkpoint folder, or 'bundled'")
    parser.add_argument("data", type=Path)
    parser.add_argument("--split", default="test")
    parser.add_argument("--starts", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--at", choices=["anywhere", "tweet"], default="anywhere")
    args = parser.parse_args()
    ckpt = None if args.checkpoint == "bundled" else Path(args.checkpoint)
    tails = start_losses(ckpt, args.data, args.split, args.starts, args.seed, args.at)
    collapsed = tails > COLLAPSED
    print(
        f"{args.checkpoint} on {keras.backend.backend()}, {args.split} split, {args.starts} starts ({args.at}): "
        f"{collapsed.sum()} collapsed "
        f"({collapsed.mean():.2%}); median loss over characters {JUDGED_FROM}-512: {np.median(tails):.4f}"
        + (f"; the collapsed: {[round(float(t), 2) for t in np.sort(tails[collapsed])]}" if collapsed.any() else "")
    )


if __name__ == "__main__":
    main()
