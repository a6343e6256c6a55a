"""Training speed (chars/s) of `bot train` against a minimal PyTorch LSTM loop, same config, same run.

`bot train` runs as a user runs it (a subprocess, every callback on: checkpoints, state, history,
plot, TensorBoard, progress) for two epochs; the figure is the second epoch's chars/s as it
prints it (compile excluded; the small validation pass included). The reference is nn.Embedding
→ nn.LSTM → nn.Linear with RMSprop and gradient clipping, stepped over the same lanes, timed
after a warm-up.

The PyTorch loop runs first and last (the box drifts); a backend may name a `--precision`:
`tensorflow:mixed_bfloat16`.

    pip install torch==2.13.0+cpu "setuptools<81"   # bench-only
    python bench/train_throughput.py [--backends tensorflow jax tensorflow:mixed_bfloat16] [--mb 1.5]
        [--rnn-size 512] [--num-layers 1] [--batch-size 128] [--seq-len 32]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from twitterbot.corpus.datafolder import open_data
from twitterbot.corpus.prepare import prepare

ROOT = Path(__file__).resolve().parents[1]


def sample_corpus(source: Path, target: Path, size: int) -> Path:
    """The first `size` bytes of the corpus's text files, whole lines."""
    with open(target, "wb") as out:
        for path in sorted(source.rglob("*.txt")):
            for line in path.read_bytes().splitlines(keepends=True):
                if out.tell() >= size:
                    return target
                out.write(line)
    return target


def bot_train(data: Path, out: Path, backend: str, args: argparse.Namespace) -> float:
    """chars/s of `bot train`'s second epoch on `backend` (BACKEND or BACKEND:PRECISION)."""
    backend, _, precision = backend.partition(":")
    command = [sys.executable, "-c", "from twitterbot.cli.app import main; main()", "train", str(data)]
    command += ["--out", str(out), "--force", "--num-epochs", "2", "--rnn-size", str(args.rnn_size)]
    command += ["--num-layers", str(args.num_layers)]
    command += ["--batch-size", str(args.batch_size), "--seq-len", str(args.seq_len)]
    command += ["--precision", precision or "float32"]
    result = subprocess.run(
        command, env={**os.environ, "KERAS_BACKEND": backend}, capture_output=True, text=True, timeout=3600
    )
    speeds = re.findall(r"epoch 2/2 .*?([\d,]+) chars/s", result.stderr)
    if result.returncode != 0 or not speeds:
        raise SystemExit(f"bot train on {backend} failed:\n{result.stderr[-2000:]}")
    return float(speeds[-1].replace(",", ""))


def torch_train(data: Path, vocab_size: int, args: argparse.Namespace, steps: int) -> float:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    embedding = torch.nn.Embedding(vocab_size, 64)
    lstm = torch.nn.LSTM(64, args.rnn_size, args.num_layers, batch_first=True)
    linear = torch.nn.Linear(args.rnn_size, vocab_size)
    parameters = [*embedding.parameters(), *lstm.parameters(), *linear.parameters()]
    optimizer = torch.optim.RMSprop(parameters, lr=0.001, alpha=0.9, eps=1e-7)
    batches = open_data(data).batches("train", args.batch_size, args.seq_len)
    state = None
    warm_up = 5
    for index in range(min(steps + warm_up, len(batches))):
        if index == warm_up:
            started = time.perf_counter()
        x, y = (torch.from_numpy(part.astype(np.int64)) for part in batches[index])
        out, state = lstm(embedding(x), state)
        state = tuple(s.detach() for s in state)  # stateful: carry the state, not its gradient
        loss = torch.nn.functional.cross_entropy(linear(out).reshape(-1, vocab_size), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 5.0)
        optimizer.step()
    done = min(steps + warm_up, len(batches)) - warm_up
    return done * args.batch_size * args.seq_len / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "tweeteval")
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    parser.add_argument("--mb", type=float, default=1.5, help="megabytes of the corpus to train on")
    parser.add_argument("--rnn-size", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="train-bench-") as tmp:
        work = Path(tmp)
        corpus = sample_corpus(args.data, work / "corpus.txt", int(args.mb * 1e6))
        prepare([str(corpus)], work / "data", validate=0.01, test=0.01)
        folder = open_data(work / "data")
        steps = len(folder.batches("train", args.batch_size, args.seq_len))
        print(
            f"{args.num_layers} x LSTM {args.rnn_size}, batch {args.batch_size} x seq {args.seq_len}, "
            f"vocab {folder.vocab.size}, {steps} steps per epoch, {os.cpu_count()} CPU cores"
        )
        first = torch_train(work / "data", folder.vocab.size, args, steps)
        print(f"PyTorch {__import__('torch').__version__} loop: {first:,.0f} chars/s")
        speeds = {backend: bot_train(work / "data", work / "ckpt", backend, args) for backend in args.backends}
        last = torch_train(work / "data", folder.vocab.size, args, steps)
        reference = (first + last) / 2
        print(f"PyTorch loop again: {last:,.0f} chars/s; reference (mean) {reference:,.0f}")
        for backend, speed in speeds.items():
            print(f"bot train, {backend}: {speed:,.0f} chars/s ({speed / reference:.2f}x PyTorch)")


if __name__ == "__main__":
    main()
