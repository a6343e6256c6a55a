"""Fuzz the readers of what twitterbot wrote itself: a checkpoint's files, a page download (`bot
import-web`) and a post log. Each case mutates one file of a real one (bench/fuzz_importers.py's
mutations: byte flips, inserted syntax, cut, duplicated or deleted spans, truncation) and reads it the
way generate, export, import-web and post do; the outcome must be a clean read or a one-line BotError
naming the file or folder, never another exception.

    python bench/fuzz_readers.py [--cases 10000] [--seed 0] [--only checkpoint import-web post-log]

The tiny model the cases start from is trained here (a few seconds). Exit status 1 on any finding.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import traceback
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from fuzz_importers import mutate

from twitterbot.errors import BotError

PHRASES = ["the cat sat on the mat", "a dog ate my hat", "we love tiny tests", "hello world, hello bot"]


def tiny_checkpoint(root: Path) -> tuple[Path, Path]:
    """A trained two-layer checkpoint with every file a checkpoint can have, and its page download (.zip)."""
    from twitterbot.config import Config
    from twitterbot.corpus.prepare import prepare
    from twitterbot.training.train import train
    from twitterbot.web.export import export

    corpus = root / "tweets.txt"
    corpus.write_text("\n".join(f"{PHRASES[i % 4]} #{i}" for i in range(300)) + "\n", encoding="utf-8")
    prepare([str(corpus)], root / "data", coverage=1.0)
    config = Config(embedding_size=8, rnn_size=16, num_layers=2, batch_size=8, seq_len=16, num_epochs=1)
    train(root / "data", root / "ck", config)
    from twitterbot.training.checkpoint import open_checkpoint

    export(open_checkpoint(root / "ck"), root / "web")
    download = root / "my-voice.zip"
    with zipfile.ZipFile(download, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((root / "web").iterdir()):
            if path.is_file() and path.suffix in (".json", ".bin", ".gz"):
                archive.write(path, f"my-voice/{path.name}")
    return root / "ck", download


def read_checkpoint(path: Path) -> str:
    """What generate and export read of a checkpoint."""
    from twitterbot.training.checkpoint import open_checkpoint
    from twitterbot.training.lstm import ModelWeights

    ckpt = open_checkpoint(path)
    ckpt.start_state(), ckpt.novelty(), ckpt.words()
    ModelWeights.read(ckpt.weights, ckpt.config)
    return "ok"


def checked(read: Callable[[], str], names: str) -> str:
    """'ok' or 'error' (a proper BotError naming `names`); anything else raises AssertionError."""
    try:
        return read()
    except BotError as error:
        message = str(error)
        assert "\n" not in message and len(message) < 500, f"not one short line: {message[:300]!r}"
        assert names in message, f"does not name {names}: {message[:300]!r}"
        return "error"


def run(kind: str, cases: int, rng: random.Random, root: Path, ckpt: Path, download: Path) -> tuple[Counter, list]:
    from twitterbot.social.post import PostLog
    from twitterbot.web.importweb import import_web

    outcomes: Counter = Counter()
    failures = []
    log = "".join(
        json.dumps({"time": "2026-12-03T10:00:00", "id": str(i), "text": p}) + "\n" for i, p in enumerate(PHRASES)
    )
    members = {info.filename: zipfile.ZipFile(download).read(info) for info in zipfile.ZipFile(download).infolist()}
    for case in range(cases):
        work = root / f"case{case}"
        if kind == "checkpoint":
            shutil.copytree(ckpt, work, ignore=shutil.ignore_patterns("state*", "logs", "*.png", "*.csv"))
            victim = rng.choice(sorted(p for p in work.iterdir() if p.is_file()))
            victim.write_bytes(mutate(victim.read_bytes(), rng))
            read, names = (lambda: read_checkpoint(work)), str(work)  # noqa: B023 - called at once
        elif kind == "import-web":
            work.mkdir()
            source = work / "my-voice.zip"
            if rng.random() < 0.5:  # the zip's own bytes
                source.write_bytes(mutate(download.read_bytes(), rng))
            else:  # one member's contents, the zip intact
                victim = rng.choice(sorted(members))
                with zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as archive:
                    for name, data in members.items():
                        archive.writestr(name, mutate(data, rng) if name == victim else data)
            read, names = (lambda: import_web(source, work / "out") and "ok"), str(source)  # noqa: B023
        else:
            work.mkdir()
            path = work / "posted.jsonl"
            path.write_bytes(mutate(log.encode(), rng))
            read, names = (lambda: PostLog(path) and "ok"), str(path)  # noqa: B023
        try:
            outcomes[checked(read, names)] += 1
        except Exception:  # noqa: BLE001 - every other exception is a finding
            failures.append((f"{kind} {case}", traceback.format_exc()))
        shutil.rmtree(work, ignore_errors=True)
    return outcomes, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000, help="per reader")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="+", default=["checkpoint", "import-web", "post-log"])
    args = parser.parse_args()
    rng = random.Random(args.seed)
    found = 0
    with tempfile.TemporaryDirectory(prefix="fuzz-readers-") as tmp:
        ckpt, download = tiny_checkpoint(Path(tmp))
        for kind in args.only:
            started = time.perf_counter()
            outcomes, failures = run(kind, args.cases, rng, Path(tmp), ckpt, download)
            found += len(failures)
            seconds = time.perf_counter() - started
            print(f"{kind}: {args.cases:,} cases in {seconds:.0f} s: ok {outcomes['ok']:,}, "
                  f"one-line errors {outcomes['error']:,}, tracebacks {len(failures):,}")  # fmt: skip
            for name, trace in failures[:3]:
                print(f"--- {name}\n{trace}")
            for line, count in Counter(t.strip().splitlines()[-1][:100] for _, t in failures).most_common(10):
                print(f"{count:>6}  {line}")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
