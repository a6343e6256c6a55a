"""An order-n interpolated Kneser-Ney character model, counts only: the floor a neural model must clear.

Counted with NumPy over hashed n-grams (one uint64 per position and order), so an order-7 model of
50M characters takes about a minute. Context crosses tweet boundaries as the LSTM's does (the
stream's <eot> ids are characters too). Lower orders use continuation counts (how many distinct
characters precede an n-gram), one absolute discount per order, D = n1 / (n1 + 2 n2) (Chen & Goodman).

    python bench/kneser_ney.py DATA_FOLDER [--order 7] [--split test]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from twitterbot.corpus.datafolder import open_data

BASE = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the rolling hash


def gram_hashes(ids: np.ndarray, order: int) -> list[np.ndarray]:
    """hashes[k][i]: the k-gram ending at position i (k = 1..order); 0 where i < k - 1 (no such gram)."""
    symbols = ids.astype(np.uint64) + np.uint64(1)
    hashes = [np.zeros(0, np.uint64), symbols.copy()]
    with np.errstate(over="ignore"):
        for k in range(2, order + 1):
            h = np.zeros_like(symbols)
            h[k - 1 :] = hashes[k - 1][k - 2 : -1] * BASE + symbols[k - 1 :]
            hashes.append(h)
    return hashes


class Table:
    """Sorted keys with values: lookup of many hashes at once (0 where absent)."""

    def __init__(self, keys: np.ndarray, values: np.ndarray | None = None):
        if values is None:
            keys, values = np.unique(keys, return_counts=True)
        self.keys, self.values = keys, values.astype(np.float64)

    def __getitem__(self, queries: np.ndarray) -> np.ndarray:
        if len(self.keys) == 0:
            return np.zeros(len(queries))
        where = np.minimum(np.searchsorted(self.keys, queries), len(self.keys) - 1)
        return np.where(self.keys[where] == queries, self.values[where], 0.0)


class KneserNey:
    def __init__(self, train: np.ndarray, vocab_size: int, order: int = 7):
        self.order, self.vocab_size = order, vocab_size
        h = gram_hashes(train, order)
        n = len(train)
        self.levels = []  # per context length k = 0..order-1: (joint, context total, context types, discount)
        for k in range(order):
            m = k + 1  # the joint gram's length
            if m == order:  # the highest order: plain counts
                valid = np.arange(m - 1, n)
                joint_keys, first = np.unique(h[m][valid], return_index=True)
                joint = Table(joint_keys, np.bincount(np.searchsorted(joint_keys, h[m][valid])))
                prefixes = h[k][valid - 1] if k else np.zeros(len(valid), np.uint64)
                total = Table(prefixes)
                types = Table(h[k][valid[first] - 1] if k else np.zeros(len(first), np.uint64))
            else:  # lower orders: continuation counts, N1+(• gram)
                valid = np.arange(m, n)  # the (m+1)-gram with one more character on the left exists
                _, first = np.unique(h[m + 1][valid], return_index=True)
                positions = valid[first]  # one position per distinct (m+1)-gram
                joint = Table(h[m][positions])  # distinct left extensions of each m-gram
                total = Table(h[k][positions - 1] if k else np.zeros(len(positions), np.uint64))
                _, suffix_first = np.unique(h[m][positions], return_index=True)
                ends = positions[suffix_first]
                types = Table(h[k][ends - 1] if k else np.zeros(len(ends), np.uint64))
            ones, twos = np.sum(joint.values == 1), np.sum(joint.values == 2)
            discount = ones / (ones + 2 * twos) if ones + twos else 0.5
            self.levels.append((joint, total, types, float(discount)))

    def log_losses(self, stream: np.ndarray) -> np.ndarray:
        """-ln P(ids[i] | the order-1 ids before it), for every position i ≥ 1."""
        h = gram_hashes(stream, self.order)
        positions = np.arange(1, len(stream))
        p = np.full(len(positions), 1.0 / self.vocab_size)
        for k, (joint, total, types, discount) in enumerate(self.levels):
            have = positions >= k  # the context of length k exists
            contexts = h[k][positions - 1] if k else np.zeros(len(positions), np.uint64)
            denominator = total[contexts]
            seen = have & (denominator > 0)
            count = joint[h[k + 1][positions]]
            safe = np.where(seen, denominator, 1.0)
            mixed = np.maximum(count - discount, 0) / safe + discount * types[contexts] / safe * p
            p = np.where(seen, mixed, p)
        return -np.log(p)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("--order", type=int, default=7)
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    data = open_data(args.data)
    model = KneserNey(data.split("train")[()], data.vocab.size, args.order)
    loss = float(model.log_losses(data.split(args.split)[()]).mean())
    bits = loss / math.log(2)
    print(f"order-{args.order} Kneser-Ney on {args.data} ({args.split}): {loss:.4f} nats/char ({bits:.4f} bits)")


if __name__ == "__main__":
    main()
