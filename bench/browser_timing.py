"""Time to write one 280-character tweet in headless Chromium with the exported page.

Builds a reference-size model (vocab 98, embedding 64, one LSTM of 512; random weights, with the
end-of-tweet bias pushed down so every sample runs the full 280 characters), exports it, serves
it, clicks Write several times and reports the median, the model load time and the tfjs
backend. The reference, measured in the same page and run: the tfjs layers API stepped with
`model.predict` once per character.

The page writes several tweets in one batched step (its default is 3): the per-tweet time of a
batch of --batch streams is reported beside the single-stream time.

    python bench/browser_timing.py [--runs 7] [--batch 3] [--quantize float16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from reference import TWEET, reference_checkpoint

from twitterbot.checkpoint import open_checkpoint
from twitterbot.config import SampleOptions
from twitterbot.export import export

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--batch", type=int, default=3, choices=[3, 5, 10], help="streams written at once")
    parser.add_argument("--quantize", choices=["float16", "uint8"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = open_checkpoint(reference_checkpoint(tmp / "ckpt"))
        sizes = export(ckpt, tmp / "web", args.quantize, SampleOptions(max_len=TWEET))
        server = subprocess.Popen(
            [sys.executable, "-m", "twitterbot.cli", "serve", str(tmp / "web"), "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            url = server.stdout.readline().split(" at ")[1].split()[0]
            single = run_page(url, tmp / "single.json", args.runs, 1, TWEET)
            batched = run_page(url, tmp / "batched.json", args.runs, args.batch, 0)
        finally:
            server.terminate()
            server.wait()
    single_s = statistics.median(t["seconds"] for t in single["timings"])
    batched_s = statistics.median(t["seconds"] for t in batched["timings"]) / args.batch
    reference = single["referenceSeconds"]
    print(
        f"weights: {sizes['weights_bytes'] / 1e6:.2f} MB {sizes['quantize']}; backend {single['backend']} "
        f"(cross-origin isolated: {single['crossOriginIsolated']}); model load {single['loadMs'] / 1000:.2f} s"
    )
    print(f"reference, tfjs layers API model.predict per char: {reference:.3f} s per {TWEET}-char tweet")
    print(
        f"page, 1 stream: median {single_s:.3f} s per tweet over {args.runs} runs "
        f"({reference / single_s:.1f}x the reference)"
    )
    print(
        f"page, {args.batch} streams at once: median {batched_s:.3f} s per tweet "
        f"({reference / batched_s:.1f}x the reference)"
    )
    print(
        json.dumps(
            {
                "single_s": single_s,
                "batched_per_tweet_s": batched_s,
                "reference_s": reference,
                "load_s": single["loadMs"] / 1000,
                "backend": single["backend"],
            }
        )
    )


def run_page(url: str, out: Path, runs: int, streams: int, reference_chars: int) -> dict:
    """Click Write `runs` times with `streams` at once; every tweet must be full length."""
    subprocess.run(
        [
            "node",
            "tests/js/browser.mjs",
            url,
            out,
            out.with_suffix(".png"),
            str(runs),
            str(streams),
            str(reference_chars),
        ],
        cwd=ROOT,
        check=True,
        timeout=1800,
    )
    result = json.loads(out.read_text())
    if result["errors"] or any(t["chars"] != TWEET * streams for t in result["timings"]):
        raise SystemExit(f"the page did not write full-length tweets: {result}")
    return result


if __name__ == "__main__":
    main()
