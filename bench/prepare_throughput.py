"""Throughput (MB/s) and peak memory of `bot prepare` on the shared corpora, and on a corpus repeated to ~1 GB.

Each run is a fresh `bot prepare` process; its wall time and peak RSS come from os.wait4. The
reference, timed in the same run on the same files, is the floor any importer pays: a Python
process that reads every file line by line (UTF-8 decode included) and does nothing else.

    python bench/prepare_throughput.py [--data ../shared/data] [--size-mb 1024]

The repeated corpus is TweetEval's text files concatenated until it reaches the size, so after
de-duplication the model data stays the same size while the input grows: peak RSS must stay
flat. `--keep-duplicates` runs encode every copy, so the whole pipeline is timed at that size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PREPARE = [sys.executable, "-c", "from twitterbot.cli.app import main; main()", "prepare"]
READ_FLOOR = "import sys\nfor name in sys.argv[1:]:\n    for line in open(name, encoding='utf-8'):\n        pass\n"


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{process.stderr.read().decode()}")
    return elapsed, usage.ru_maxrss / 1024


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def repeated_corpus(source: Path, target: Path, size: int) -> Path:
    parts = [p.read_bytes() for p in files_under(source)]
    with open(target, "wb") as out:
        while out.tell() < size:
            for part in parts:
                out.write(part if part.endswith(b"\n") else part + b"\n")
    return target


def copies(source: Path, folder: Path, size: int) -> Path:
    """A folder of copies of one file (an archive's tweets.js), `size` bytes in all."""
    folder.mkdir()
    for index in range(max(1, size // source.stat().st_size)):
        shutil.copyfile(source, folder / f"tweets-{index}.js")
    return folder


def run(label: str, inputs: list[Path], work: Path, extra: tuple[str, ...] = ()) -> None:
    size = sum(p.stat().st_size for f in inputs for p in files_under(f)) / 1e6
    floor, _ = timed([sys.executable, "-c", READ_FLOOR, *map(str, (p for f in inputs for p in files_under(f)))])
    elapsed, rss = timed([*PREPARE, *map(str, inputs), "--out", str(work / "out"), "--force", *extra])
    print(
        f"| {label} | {size:,.1f} | {elapsed:.2f} | **{size / elapsed:.1f}** | {rss:,.0f} | "
        f"{size / floor:.1f} | {floor / elapsed:.2f} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--size-mb", type=int, default=1024, help="largest repeated corpus")
    args = parser.parse_args()
    tweeteval = args.data / "tweeteval"
    print("| input | MB | s | MB/s | peak RSS MB | read floor MB/s | vs floor |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="prepare-bench-", dir=os.environ.get("BENCH_TMP")) as tmp:
        work = Path(tmp)
        run("TweetEval (text files)", [tweeteval], work)
        run("X archive tweets.js", [args.data / "archive" / "tweets.js"], work)
        run("CSV, one account", [args.data / "realdonaldtrump.csv"], work)
        for size in sorted({64, 256, args.size_mb}):
            if size > args.size_mb:
                continue
            big = repeated_corpus(tweeteval, work / f"tweeteval-{size}.txt", size * 1_000_000)
            run(f"TweetEval repeated to {size} MB", [big], work)
            if size == args.size_mb:
                run("same, --keep-duplicates", [big], work, ("--keep-duplicates",))
            big.unlink()
        archive = copies(args.data / "archive" / "tweets.js", work / "archives", 256_000_000)
        run("X archive tweets.js, 66 copies", [archive], work)
        shutil.rmtree(archive)


if __name__ == "__main__":
    main()
