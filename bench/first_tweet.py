"""Time to the first tweet: whole `bot` processes, start to exit, the small-n NumPy path beside the
compiled one (Keras imported, backend started, sampling loop compiled: the path every `bot generate`
took before), alternated run by run so the shared machine's drift falls on both alike.

Cases: the bundled model with -n 1 and -n 5, a 2-layer × 512 checkpoint trained on one account
(`../shared/data/archive/tweets.js`, novelty index included) with -n 1, and the answers that never
sample (`bot --help`, a missing checkpoint). Same --seed on both paths, and how many output lines
differ (a draw within float rounding of a boundary can go the other way: rare, more so with many tweets).
Python writes its bytecode caches first (a normal install has them; this machine sets
PYTHONDONTWRITEBYTECODE, which would recompile every module on every start).

    python bench/first_tweet.py [--runs 7] [--account ../shared/data/archive/tweets.js]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
BOT = [sys.executable, "-m", "twitterbot.cli"]


def forced(compiled_from: int, keras_first: bool = False) -> list[str]:
    """`bot` with the compiled loop used from `compiled_from` tweets on (0: always, as before)."""
    return [
        sys.executable,
        "-c",
        f"import sys{', keras' if keras_first else ''}; from twitterbot.writing import sample; "
        f"sample.COMPILED_FROM = {compiled_from}; from twitterbot.cli.app import main; sys.argv[0] = 'bot'; main()",
    ]


# The path every `bot generate` took before: Keras imported first, every draw through the compiled loop.
COMPILED = forced(0, keras_first=True)


def tweets_differing(one: str, other: str) -> int:
    """How many tweets two outputs of `bot generate` hold differently (each tweet is followed by a rule)."""
    first, second = one.split("\n"), other.split("\n")
    return sum(a != b for a, b in zip(first, second, strict=False)) + abs(len(first) - len(second))


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    return time.perf_counter() - started, done.stdout


def two_layer_checkpoint(folder: Path, account: Path) -> Path:
    data, ckpt = folder / "data", folder / "ckpt"
    for step in (
        ["prepare", str(account), "--out", str(data)],
        [
            "train",
            str(data),
            "--out",
            str(ckpt),
            "--num-layers",
            "2",
            "--rnn-size",
            "512",
            "--num-epochs",
            "1",
            "--batch-size",
            "16",
        ],
    ):
        subprocess.run([*BOT, *step], env=ENV, check=True, capture_output=True, timeout=3600)
    return ckpt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--account", type=Path, default=Path("../shared/data/archive/tweets.js"))
    parser.add_argument("--crossover", action="store_true", help="also time -n 256…2048 on each path, unfiltered")
    args = parser.parse_args()
    if args.crossover:
        crossover()
    with tempfile.TemporaryDirectory() as tmp:
        two_layers = two_layer_checkpoint(Path(tmp), args.account)
        sampling = {
            "bundled, -n 1": ["generate", "-n", "1", "--temp", "0.8"],
            "bundled, -n 5": ["generate", "-n", "5", "--temp", "0.8"],
            "2 × 512 account checkpoint, -n 1": ["generate", str(two_layers), "-n", "1", "--temp", "0.8"],
        }
        answers = {"bot --help": ["--help"], "missing checkpoint": ["generate", str(Path(tmp) / "nowhere")]}
        timed([*BOT, "generate", "-n", "1"])  # bytecode caches written
        times: dict[str, list[float]] = {name: [] for name in [*sampling, *answers]}
        compiled: dict[str, list[float]] = {name: [] for name in sampling}
        differing = dict.fromkeys(sampling, 0)
        for run in range(args.runs):
            for name, arguments in sampling.items():
                seeded = [*arguments, "--seed", str(run)]
                fast, tweets = timed([*BOT, *seeded])
                slow, same = timed([*COMPILED, *seeded])
                differing[name] += tweets_differing(tweets, same)
                times[name].append(fast)
                compiled[name].append(slow)
            for name, arguments in answers.items():
                times[name].append(timed([*BOT, *arguments])[0])
    print(f"{'case':36} {'NumPy path':>12} {'compiled':>10} {'ratio':>7}   (median of {args.runs}; min–max)")
    for name, seconds in times.items():
        fast = statistics.median(seconds)
        spread = f"{min(seconds):.2f}–{max(seconds):.2f}"
        if name in compiled:
            slow = statistics.median(compiled[name])
            ratio = f"{slow / fast:6.1f}×"
            print(f"{name:36} {fast:10.2f} s {slow:8.2f} s {ratio}   ({spread}; {differing[name]} lines differ)")
        else:
            print(f"{name:36} {fast:10.2f} s {'':>10} {'':>7}   ({spread})")


def crossover() -> None:
    """Where the compiled loop's start-up pays off: whole runs of many unfiltered tweets on each path."""
    print(
        f"{'-n':>6} {'NumPy path':>12} {'compiled':>10} {'lines differing':>16}   (bundled, --no-filter, one run each)"
    )
    for count in (256, 512, 1024, 2048):
        arguments = ["generate", "-n", str(count), "--no-filter", "--seed", "0"]
        numpy_seconds, tweets = timed([*forced(10**9), *arguments])
        compiled_seconds, same = timed([*forced(0), *arguments])
        print(f"{count:6} {numpy_seconds:10.2f} s {compiled_seconds:8.2f} s {tweets_differing(tweets, same):16}")


if __name__ == "__main__":
    main()
