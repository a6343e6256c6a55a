"""Peak memory of every command on hostile inputs of at most 10 MB (issue 28): each must end in one
line and a non-zero exit, or read cleanly, and never grow past 1 GB resident, whatever sizes, counts
and nesting the input declares.

    cd bench && python peak_rss.py [--limit-mb 1024] [--only generate import-web …]

Each command runs under `/usr/bin/time -v` (its "Maximum resident set size") with a 300 s timeout,
next to the same command on a good input, measured in the same run: the ratio says what the hostile
input costs above starting Python and the backend. Nothing reaches a network: fetch is pointed at a
proxy port that refuses. Exit status 1 when any case fails.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from fuzz_readers import tiny_checkpoint

MAX_INPUT = 10 << 20  # what a hostile input may weigh on disk
BOT = [sys.executable, "-m", "twitterbot.cli"]


@dataclass
class Case:
    command: str  # the `bot` command it runs, for --only and the reference
    name: str
    make: Callable[[Path], list[str]]  # builds the input under a folder, returns bot's arguments
    good: bool = False  # the reference: a good input of the same command
    expect: int = 1  # its exit status: a one-line refusal


def deflated(members: dict[str, Callable[[io.BufferedWriter], None]], path: Path) -> Path:
    """A zip whose members are written by streaming functions (gigabytes of zeros deflate to megabytes)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, write in members.items():
            with archive.open(name, "w", force_zip64=True) as stream:
                write(stream)
    return path


def zeros(size: int) -> Callable[[io.BufferedWriter], None]:
    def write(stream: io.BufferedWriter) -> None:
        block = b"\0" * (16 << 20)
        for _ in range(size // len(block)):
            stream.write(block)

    return write


def copy(source: Path, folder: Path, name: str) -> Path:
    target = folder / name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("state*", "logs"))
    return target


def cases(ckpt: Path, download: Path, data: Path) -> list[Case]:
    """Every reader of a file a user hands twitterbot, with the hostile shapes issue 28 names and more."""

    def checkpoint_with(name: str, edit: Callable[[Path], None], command: str = "generate") -> Case:
        def make(root: Path) -> list[str]:
            target = copy(ckpt, root, name)
            edit(target)
            return [command, str(target), *(["-n", "1"] if command == "generate" else ["--out", str(root / "web")])]

        return Case(command, name, make)

    def config_edit(**changes: object) -> Callable[[Path], None]:
        def edit(target: Path) -> None:
            config = json.loads((target / "config.json").read_text())
            (target / "config.json").write_text(json.dumps({**config, **changes}))

        return edit

    def text(file: str, data_: bytes) -> Callable[[Path], None]:
        return lambda target: (target / file).write_bytes(data_)

    def declared_units(target: Path) -> None:
        """Every dataset of the weights file replaced by an empty one declaring 100,000-unit shapes."""
        with h5py.File(target / "model.weights.h5", "r+") as weights:
            names: list[str] = []
            weights.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
            for name in names:
                shape = tuple(100_000 * (4 if d % 4 == 0 and d > 4 else 1) for d in weights[name].shape)
                del weights[name]
                weights.create_dataset(name, shape=shape, dtype="f4")  # no storage: HDF5 allocates late

    def npy_declaring(shape: tuple[int, ...]) -> bytes:
        """An .npy of a few bytes whose header declares `shape`."""
        header = {"descr": "<f4", "fortran_order": False, "shape": shape}
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, header)
        return buffer.getvalue() + b"\0" * 64

    def npz(target: Path, file: str, arrays: dict[str, bytes]) -> None:
        with zipfile.ZipFile(target / file, "w") as archive:
            for key, raw in arrays.items():
                archive.writestr(f"{key}.npy", raw)

    def state_declaring(target: Path) -> None:
        with np.load(target / "start_state.npz") as good:
            keys = list(good.files)
        npz(target, "start_state.npz", {key: npy_declaring((100_000, 100_000)) for key in keys})

    def novelty_declaring(target: Path) -> None:
        with np.load(target / "novelty.npz") as good:
            keys = list(good.files)
        npz(target, "novelty.npz", {key: npy_declaring((10**12,)) for key in keys})

    def gzip_bomb(target: Path) -> None:
        with gzip.open(target / "words.txt.gz", "wb") as stream:
            zeros(4 << 30)(stream)  # 4 GiB of NULs in ~4 MB

    def bombed_download(root: Path) -> list[str]:
        source = deflated({f"my-voice/group1-shard{i}of4.bin": zeros(1 << 30) for i in range(1, 5)}, root / "b.zip")
        with zipfile.ZipFile(download) as good:
            with zipfile.ZipFile(source, "a") as archive:
                for info in good.infolist():
                    if "shard" not in info.filename:
                        archive.writestr(info, good.read(info))
        return ["import-web", str(source), "--out", str(root / "out")]

    def sparse_download(root: Path) -> list[str]:
        folder = root / "sparse"
        with zipfile.ZipFile(download) as good:
            good.extractall(folder)
        model = next(folder.rglob("model.json"))
        with open(model, "r+b") as stream:
            stream.truncate(3 << 30)  # 3 GB that take no disk
        return ["import-web", str(model.parent), "--out", str(root / "out")]

    def member(name: str, content: bytes) -> Callable[[Path], list[str]]:
        def make(root: Path) -> list[str]:
            source = root / "d.zip"
            with zipfile.ZipFile(download) as good, zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as archive:
                for info in good.infolist():
                    archive.writestr(info, content if info.filename.endswith(name) else good.read(info))
            return ["import-web", str(source), "--out", str(root / "out")]

        return make

    def source_file(name: str, content: bytes | Callable[[Path], Path]) -> Callable[[Path], list[str]]:
        def make(root: Path) -> list[str]:
            if callable(content):
                path = content(root)
            else:
                path = root / name
                path.write_bytes(content)
            return ["prepare", str(path), "--out", str(root / "data")]

        return make

    def archive_bomb(root: Path) -> Path:
        prefix = b"window.YTD.tweets.part0 = ["

        def write(stream: io.BufferedWriter) -> None:
            stream.write(prefix)
            zeros(2 << 30)(stream)

        return deflated({"data/tweets.js": write}, root / "twitter-archive.zip")

    def log_file(content: bytes) -> Callable[[Path], list[str]]:
        def make(root: Path) -> list[str]:
            (root / "posted.jsonl").write_bytes(content)
            return ["post", str(ckpt), "--log", str(root / "posted.jsonl")]

        return make

    def blocklist(content: bytes) -> Callable[[Path], list[str]]:
        def make(root: Path) -> list[str]:
            (root / "block.txt").write_bytes(content)
            return ["generate", str(ckpt), "-n", "1", "--blocklist", str(root / "block.txt")]

        return make

    def data_folder_with(edit: Callable[[Path], None]) -> Callable[[Path], list[str]]:
        def make(root: Path) -> list[str]:
            target = root / "data"
            shutil.copytree(data, target)
            edit(target)
            return ["evaluate", str(ckpt), str(target)]

        return make

    def declared_tokens(target: Path) -> None:
        with h5py.File(target / "data.h5", "r+") as tokens:
            for split in ("train", "validate", "test"):
                dtype = tokens[split].dtype
                del tokens[split]
                tokens.create_dataset(split, shape=(10**12,), dtype=dtype, chunks=(1 << 20,))

    def fetch_into(content: bytes) -> Callable[[Path], list[str]]:
        def make(root: Path) -> list[str]:
            (root / "mine.jsonl").write_bytes(content)
            return ["fetch", "someone", "--out", str(root / "mine.jsonl")]

        return make

    def space(content: bytes) -> Callable[[Path], list[str]]:
        def make(root: Path) -> list[str]:
            (root / "space.toml").write_bytes(content)
            return ["search", str(data), "--out", str(root / "search"), "--space", str(root / "space.toml")]

        return make

    def special(argv: Callable[[Path], list[str]]) -> Case:
        """/dev/zero given where a file is read: endless bytes from no disk at all."""
        args = argv(Path("/dev/zero"))
        before = args[args.index("/dev/zero") - 1]
        return Case(args[0], f"/dev/zero as {before if before.startswith('--') else 'the input'}", lambda root: args)

    good_tweet = b'{"id": "1", "text": "a tweet of my own"}\n'
    long_line = b"x" * (MAX_INPUT - 1)
    return [
        Case("generate", "a good checkpoint", lambda root: ["generate", str(ckpt), "-n", "1"], True, 0),
        checkpoint_with("num_layers 10**7", config_edit(num_layers=10**7)),
        checkpoint_with("rnn_size 10**8", config_edit(rnn_size=10**8)),
        checkpoint_with("config nested 5M deep", text("config.json", b"[" * (5 << 20))),
        checkpoint_with(
            "config with a 5M-digit number", text("config.json", b'{"rnn_size": ' + b"9" * (5 << 20) + b"}")
        ),
        checkpoint_with("vocab of 10 MB in one string", text("vocab.json", b'{"chars": ["' + long_line[:-20] + b'"]}')),
        checkpoint_with("weights declaring 100,000 units", declared_units),
        checkpoint_with("start state declaring 10^10 numbers", state_declaring),
        checkpoint_with("novelty index declaring 10^12 hashes", novelty_declaring),
        checkpoint_with("words.txt.gz unpacking to 4 GiB", gzip_bomb),
        Case("export", "a good checkpoint", lambda root: ["export", str(ckpt), "--out", str(root / "web")], True, 0),
        checkpoint_with("weights declaring 100,000 units", declared_units, "export"),
        checkpoint_with("novelty index declaring 10^12 hashes", novelty_declaring, "export"),
        checkpoint_with("words.txt.gz unpacking to 4 GiB", gzip_bomb, "export"),
        Case(
            "import-web",
            "a good download",
            lambda root: ["import-web", str(download), "--out", str(root / "o")],
            True,
            0,
        ),
        Case("import-web", "4 members of 1 GiB in 4 MB", bombed_download),
        Case("import-web", "a sparse 3 GB model.json", sparse_download),
        Case("import-web", "model.json nested 5M deep", member("model.json", b"[" * (5 << 20))),
        Case("import-web", "vocab.json of 10 MB", member("vocab.json", b'{"chars": ["' + long_line[:-20] + b'"]}')),
        Case("prepare", "a good CSV", source_file("good.csv", b"text\n" + b"a tweet of mine\n" * 2000), True, 0),
        Case("prepare", "a CSV row of 10 MB of commas", source_file("commas.csv", b"text\n" + b"," * (MAX_INPUT - 8))),
        Case("prepare", "a text line of 10 MB", source_file("line.txt", long_line)),
        Case("prepare", "JSON nested 10M deep", source_file("deep.json", b"[" * (MAX_INPUT - 1))),
        Case("prepare", "a JSON line nested 10M deep", source_file("deep.jsonl", b"[" * (MAX_INPUT - 1) + b"\n")),
        Case(
            "prepare",
            "tweets.js of 10 MB in one string",
            source_file("tweets.js", b'window.YTD.tweets.part0 = ["' + long_line[:-40] + b'"]'),
        ),
        Case("prepare", "an archive whose tweets.js unpacks to 2 GiB", source_file("archive.zip", archive_bomb)),
        Case(
            "post", "a good post log", log_file(b'{"time": "2026-12-03T10:00:00", "id": "1", "text": "hi"}\n'), True, 0
        ),
        Case("post", "a log line of 10 MB", log_file(b'{"text": "' + long_line[:-20] + b'"}\n')),
        Case("post", "a log line nested 10M deep", log_file(b"[" * (MAX_INPUT - 1) + b"\n")),
        Case("post", "10 MB of blank lines", log_file(b"\n" * MAX_INPUT)),
        Case("generate", "a blocklist of 10 MB in one line", blocklist(b"/" + b"a" * (MAX_INPUT - 2) + b"/")),
        Case("generate", "a blocklist of 10 MB of patterns", blocklist(b"/(a|aa)+$/\n" * (MAX_INPUT // 11))),
        Case("evaluate", "a good data folder", lambda root: ["evaluate", str(ckpt), str(data)], True, 0),
        Case("evaluate", "splits declaring 10^12 ids", data_folder_with(declared_tokens)),
        Case(
            "evaluate",
            "prepare.json nested 5M deep",
            data_folder_with(lambda t: (t / "prepare.json").write_bytes(b"[" * (5 << 20))),
        ),
        Case("fetch", "a file of mine", fetch_into(good_tweet), True),  # to the refusing proxy
        Case("fetch", "a last line of 10 MB", fetch_into(good_tweet + long_line[:-100])),
        Case("fetch", "a line nested 10M deep", fetch_into(b"[" * (MAX_INPUT - 1) + b"\n")),
        Case("search", "a space nested 10M deep", space(b"rnn_size = " + b"[" * (MAX_INPUT - 12))),
        Case("search", "a space of one 10 MB name", space(b'"' + long_line[:-20] + b'" = 1')),
        Case("search", "a space nested 1M deep (1 MB)", space(b"rnn_size = " + b"[" * ((1 << 20) - 12))),
        special(lambda zero: ["prepare", str(zero), "--out", "data"]),
        special(lambda zero: ["import-web", str(zero), "--out", "out"]),
        special(lambda zero: ["generate", str(ckpt), "--blocklist", str(zero)]),
        special(lambda zero: ["post", str(ckpt), "--live", "--env-file", str(zero)]),
        special(lambda zero: ["post", str(ckpt), "--log", str(zero)]),
        special(lambda zero: ["fetch", "someone", "--out", str(zero)]),
        special(lambda zero: ["train", str(data), "--out", "ck", "--config", str(zero)]),
        special(lambda zero: ["search", str(data), "--out", "search", "--space", str(zero)]),
    ]


def footprint(root: Path) -> int:
    """Bytes on disk under root (sparse files count what they take)."""
    paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
    return sum(p.stat().st_blocks * 512 for p in paths if not p.is_symlink())


def measure(argv: list[str], cwd: Path) -> tuple[int, int, str]:
    """(exit status, peak RSS in bytes, last stderr line) of `bot argv` under /usr/bin/time -v."""
    env = {
        **os.environ,
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "X_BEARER_TOKEN": "junk",
        "COLUMNS": "200",
    }
    try:
        done = subprocess.run(
            ["/usr/bin/time", "-v", *BOT, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
        )
    except subprocess.TimeoutExpired:
        return 124, 0, "timed out after 300 s"
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1)) * 1024
    said = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("\t")]
    said = [line for line in said if not line.startswith(("Command exited", "Command terminated"))]
    last = said[-1] if said else (done.stdout.strip().splitlines() or [""])[-1]
    return done.returncode, peak, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit-mb", type=int, default=1024, help="peak RSS allowed a command")
    parser.add_argument("--only", nargs="+", help="commands to measure (default: all)")
    args = parser.parse_args()
    limit = args.limit_mb << 20
    failed = 0
    with tempfile.TemporaryDirectory(prefix="peak-rss-") as tmp:
        root = Path(tmp)
        ckpt, download = tiny_checkpoint(root)
        data = root / "data"
        print("| command | input | on disk | exit | peak RSS | × good input | said |\n|---|---|---|---|---|---|---|")
        reference: dict[str, int] = {}
        for number, case in enumerate(cases(ckpt, download, data)):
            if args.only and case.command not in args.only:
                continue
            work = root / f"case{number}"
            work.mkdir()
            argv = case.make(work)
            size = footprint(work)
            status, peak, said = measure(argv, work)
            if case.good:
                reference[case.command] = peak
            # a hostile input may also read cleanly (a valid file, only big): bounded memory is what counts
            expected = status == case.expect or (not case.good and status == 0)
            ok = peak < limit and expected and (status == 0 or len(said) < 400)
            failed += not ok
            ratio = f"{peak / reference[case.command]:.2f}" if case.command in reference and not case.good else "1"
            print(f"| {case.command} | {case.name} | {size / 2**20:.1f} MB | {status} | {peak / 2**20:.0f} MB | "
                  f"{ratio} | {said[:160].replace('|', '/')}{'' if ok else ' **FAILED**'} |", flush=True)  # fmt: skip
            assert size <= MAX_INPUT + (1 << 20) or case.good, f"{case.name}: {size:,} bytes is no small input"
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
