"""Where training time goes: chars/s of the bundled shape's training step, several ways, against PyTorch.

Each variant runs in its own process (Keras picks its backend once per process), in the order given,
with the PyTorch reference (bench/train_throughput.py's loop) first and last, so the box's drift shows:
400 batches of batch × 32 from a data folder's validation stream, after a 32-batch warm-up.

Variants are names made of parts joined by "_": `raw` (a train_on_batch loop) or `fit`; `cb` (fit with
every callback `bot train` uses); `speN` (compile with steps_per_execution N); `bf16` (Keras's
mixed_bfloat16 policy: float32 weights and state, bfloat16 matmuls; the logits layer stays float32).

    pip install torch==2.13.0+cpu "setuptools<81"   # bench-only; torch alone upgrades setuptools too far
    python bench/train_step_variants.py DATA [--batch-size 64] [jax:raw jax:fit_cb tensorflow:fit_cb_bf16 ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS, WARM_UP = 400, 32


def run_variant(data: Path, variant: str, batch_size: int) -> float:
    """chars/s of one variant, in this process (the backend is already chosen)."""
    import keras
    from rich.console import Console

    from twitterbot.config import Config
    from twitterbot.corpus.datafolder import open_data
    from twitterbot.training import checkpoint
    from twitterbot.training.callbacks import training_callbacks
    from twitterbot.training.model import LOSS, build_model, make_optimizer

    parts = variant.split("_")
    folder = open_data(data)
    batches = folder.batches("validate", batch_size, 32)
    config = Config(vocab_size=folder.vocab.size, batch_size=batch_size, drop_rate=0.0)
    model = build_model(config, batch_size, 32, "mixed_bfloat16" if "bf16" in parts else "float32")
    spe = next((int(part[3:]) for part in parts if part.startswith("spe")), 1)
    model.compile(optimizer=make_optimizer(config), loss=LOSS, steps_per_execution=spe)

    class Part(keras.utils.PyDataset):
        def __init__(self, start: int, count: int):
            super().__init__()
            self.start, self.count = start, count

        def __len__(self) -> int:
            return self.count

        def __getitem__(self, index: int):
            return batches[self.start + index]

    callbacks = []
    if "cb" in parts:
        out = Path(tempfile.mkdtemp(prefix="step-variants-")) / "ckpt"
        checkpoint.create(out, config, folder.vocab)
        quiet = Console(stderr=True, file=open(os.devnull, "w"))  # noqa: SIM115
        callbacks = training_callbacks(out, config, None, 0, 0, STEPS, quiet, folder.split("train")).all
    if parts[0] == "raw":
        for index in range(WARM_UP):
            model.train_on_batch(*batches[index])
        started = time.perf_counter()
        for index in range(WARM_UP, WARM_UP + STEPS):
            model.train_on_batch(*batches[index])
    else:
        model.fit(Part(0, WARM_UP), epochs=1, verbose=0, shuffle=False)
        started = time.perf_counter()
        model.fit(Part(WARM_UP, STEPS), epochs=1, verbose=0, shuffle=False, callbacks=callbacks)
    return STEPS * batch_size * 32 / (time.perf_counter() - started)


def torch_reference(data: Path, batch_size: int) -> float:
    sys.path.insert(0, str(Path(__file__).parent))
    from train_throughput import torch_train

    from twitterbot.corpus.datafolder import open_data

    args = argparse.Namespace(rnn_size=512, batch_size=batch_size, seq_len=32)
    return torch_train(data, open_data(data).vocab.size, args, STEPS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument(
        "variants", nargs="*", default=["jax:raw", "jax:fit_cb", "tensorflow:fit_cb", "tensorflow:fit_cb_bf16"]
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # BACKEND:VARIANT, run in this process
    args = parser.parse_args()
    if args.one:
        backend, variant = args.one.split(":")
        speed = (
            torch_reference(args.data, args.batch_size)
            if backend == "torch"
            else run_variant(args.data, variant, args.batch_size)
        )
        print(f"{speed:.0f}")
        return
    results = []
    for spec in ["torch:loop", *args.variants, "torch:loop"]:
        backend = spec.split(":")[0]
        command = [sys.executable, __file__, str(args.data), "--batch-size", str(args.batch_size), "--one", spec]
        env = {**os.environ, "KERAS_BACKEND": backend if backend != "torch" else "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{spec} failed:\n{done.stderr[-2000:]}")
        results.append((spec, float(done.stdout.split()[-1])))
        print(f"{spec}: {results[-1][1]:,.0f} chars/s", flush=True)
    reference = (results[0][1] + results[-1][1]) / 2
    print(f"\nbatch {args.batch_size} x 32, PyTorch {reference:,.0f} chars/s (mean of first and last)")
    for spec, speed in results[1:-1]:
        print(f"| {spec} | {speed:,.0f} | {speed / reference:.2f}x |")


if __name__ == "__main__":
    main()
