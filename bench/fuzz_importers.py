"""Fuzz every importer with mutated real files and generated ones: the outcome must be a clean import
or a one-line BotError naming the file (and the line or record where there is one), never another
exception.

Seeds are slices of the shared corpora (the X archive's tweets.js, the one-account CSV, TweetEval
text) rewritten as every format we read (archive .js, archive .zip, CSV, TSV, JSON, JSONL, text),
plus hostile files: deep nesting, endless lines, binary noise, invalid UTF-8, zip bombs. Each case
applies 1-4 random mutations (byte flips, inserted syntax characters, cut, duplicated or deleted
spans, truncation) to one seed.

    python bench/fuzz_importers.py [--cases 10000] [--seed 0]

Exit status 1 if any case ends in anything but a clean import or a proper BotError.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import tempfile
import traceback
import zipfile
from collections import Counter
from pathlib import Path

from twitterbot.corpus import sources
from twitterbot.errors import BotError

ROOT = Path(__file__).resolve().parents[1]

SYNTAX = [b'"', b"'", b",", b"\n", b"\r", b"\r\n", b"{", b"}", b"[", b"]", b":", b"\\", b"\x00", b"\xff", b"\xc3"]
SYNTAX += [b"\xef\xbb\xbf", b"\\u", b"\\ud83d", b"&amp;", b"window.YTD.tweets.part0 = ", b"PK\x03\x04", b"\t"]


def seeds(data: Path) -> dict[str, bytes]:
    """Small real files in every format, keyed by the file name they get (the name picks the reader)."""
    archive = (data / "archive" / "tweets.js").read_text(encoding="utf-8")
    entries = json.loads(archive[archive.index("=") + 1 :])[:12]
    texts = [entry["tweet"]["full_text"] for entry in entries]
    csv_lines = (data / "realdonaldtrump.csv").read_bytes().splitlines(keepends=True)[:15]
    tweeteval = next((data / "tweeteval").rglob("*.txt")).read_bytes().splitlines(keepends=True)[:20]
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("data/tweets.js", "window.YTD.tweets.part0 = " + json.dumps(entries[:4], indent=1))
    return {
        "tweets.js": ("window.YTD.tweets.part0 = " + json.dumps(entries, indent=2)).encode(),
        "archive.zip": zipped.getvalue(),
        "tweets.csv": b"".join(csv_lines),
        "tweets.tsv": b"id\ttext\n" + b"".join(f"{i}\t{t}\n".encode() for i, t in enumerate(texts) if "\t" not in t),
        "page.json": json.dumps({"data": [{"id": str(i), "text": t} for i, t in enumerate(texts)]}).encode(),
        "tweets.jsonl": "".join(json.dumps({"full_text": t}) + "\n" for t in texts).encode(),
        "tweets.txt": b"".join(tweeteval),
        "noext": b"".join(tweeteval[:5]),
    }


def hostile() -> dict[str, bytes]:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("data/tweets.js", b"window.YTD.tweets.part0 = [" + b" " * (300 << 20) + b"]")
    return {
        "deep.json": b"[" * 100_000 + b"]" * 100_000,
        "deep.jsonl": b'{"text": ' * 50_000,
        "bigint.json": b'[{"text": "a", "n": ' + b"9" * 10_000 + b"}]",
        "endless.txt": b"x" * (9 << 20),
        "endless.json": b'["' + b"y" * (3 << 20) + b'"]',
        "endless.csv": b'text\n"' + b"z" * (3 << 20) + b'"\n',
        "noise.txt": random.Random(1).randbytes(1 << 16),
        "noise.csv": random.Random(2).randbytes(1 << 16),
        "noise.json": random.Random(3).randbytes(1 << 16),
        "bomb.zip": bomb.getvalue(),
        "empty.js": b"",
        "empty.zip": b"",
    }


def mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        where = rng.randrange(len(data) + 1)
        kind = rng.randrange(6)
        if kind == 0 and data:  # flip a byte
            data[min(where, len(data) - 1)] = rng.randrange(256)
        elif kind == 1:  # insert syntax
            data[where:where] = rng.choice(SYNTAX)
        elif kind == 2:  # delete a span
            del data[where : where + rng.randint(1, 64)]
        elif kind == 3:  # duplicate a span
            data[where:where] = data[where : where + rng.randint(1, 256)]
        elif kind == 4:  # truncate
            del data[where:]
        else:  # random bytes
            data[where:where] = rng.randbytes(rng.randint(1, 16))
    return bytes(data)


def check(path: Path) -> str:
    """'ok', 'error' (a proper BotError), or raises AssertionError describing what went wrong."""
    try:
        texts = sources.read_texts(path)
    except BotError as error:
        message = str(error)
        assert "\n" not in message, f"multi-line error: {message!r}"
        assert str(path) in message, f"error does not name the file: {message!r}"
        return "error"
    assert all(isinstance(text, str) for text in texts), "a record that is not text"
    return "ok"


def run(cases: int, seed: int, data: Path) -> Counter:
    rng = random.Random(seed)
    originals = seeds(data)
    outcomes: Counter = Counter()
    failures = []
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        for name, content in hostile().items():
            path = Path(tmp) / name
            path.write_bytes(content)
            try:
                outcome = check(path)
                outcomes[f"hostile {outcome}"] += 1
                print(f"hostile {name}: {outcome}")
            except Exception:  # noqa: BLE001 — every other exception is a finding
                failures.append((name, traceback.format_exc()))
        for case in range(cases):
            name = rng.choice(sorted(originals))
            path = Path(tmp) / f"{case}-{name}"
            path.write_bytes(mutate(originals[name], rng))
            try:
                outcomes[check(path)] += 1
            except Exception:  # noqa: BLE001
                failures.append((path.name, traceback.format_exc()))
                (Path(tmp).parent / f"fuzz-failure-{path.name}").write_bytes(path.read_bytes())
            path.unlink()
    for name, trace in failures[:3]:
        print(f"--- {name}\n{trace}")
    for kind, count in Counter(trace.strip().splitlines()[-1][:100] for _, trace in failures).most_common():
        print(f"{count:>6}  {kind}")
    outcomes["FAILED"] = len(failures)
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    outcomes = run(args.cases, args.seed, args.data)
    print(", ".join(f"{key}: {count:,}" for key, count in sorted(outcomes.items())))
    sys.exit(1 if outcomes["FAILED"] else 0)


if __name__ == "__main__":
    main()
