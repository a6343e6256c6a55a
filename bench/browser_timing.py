"""Time to write one 280-character tweet in headless Chromium with the exported page.

Builds a reference-size model (vocab 98, embedding 64, one LSTM of 512, or --shape; random weights, with the
end-of-tweet bias pushed down so every sample runs the full 280 characters), exports it, serves
it, has the page draft full-length tweets several times (bench/page_timing.mjs: the sampler Write
runs, without the filters, which show nothing a random-weight model writes) and reports the median,
the model load time and the tfjs backend. The reference, measured in the same page and run: the
tfjs layers API stepped with `model.predict` once per character.

The page writes several tweets in one batched step (its default is 3): the per-tweet time of a
batch of --batch streams is reported beside the single-stream time.

With --finetune, instead: "Make it yours" with the bundled model on the first --tweets of the
account's own tweets (not retweets) in the shared X archive (../shared/data/archive/tweets.js), one
pass, in the page; the reference is `bot finetune` (Keras) for one epoch on the same tweets with the
same settings on this machine.
Reported: the page's training throughput (chars/s), the whole Learn (backend trial, the loss before
and after, the pass) for that account, and the ratio to Keras.

    python bench/browser_timing.py [--runs 7] [--batch 3] [--quantize float16] [--shape 3x180x110]
    python bench/browser_timing.py --finetune [--tweets 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from reference import TWEET, reference_checkpoint
from rich.console import Console

from twitterbot.config import SampleOptions
from twitterbot.training.checkpoint import open_checkpoint
from twitterbot.web.export import export

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--batch", type=int, default=3, choices=[3, 5, 10], help="streams written at once")
    parser.add_argument("--quantize", choices=["float16", "uint8"])
    parser.add_argument("--shape", default="1x512x64", help="LAYERSxUNITSxEMBEDDING of the timed model")
    parser.add_argument("--finetune", action="store_true", help="time Make it yours instead of writing")
    parser.add_argument("--tweets", type=int, default=1000, help="--finetune: the account's size in tweets")
    args = parser.parse_args()
    if args.finetune:
        finetune_in_page(args.tweets)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        num_layers, rnn_size, embedding_size = (int(n) for n in args.shape.split("x"))
        ckpt = open_checkpoint(reference_checkpoint(tmp / "ckpt", rnn_size, num_layers, embedding_size))
        sizes = export(ckpt, tmp / "web", args.quantize, SampleOptions(max_len=TWEET))
        with served(tmp / "web") as url:
            single = run_page(url, tmp / "single.json", args.runs, 1)
            batched = run_page(url, tmp / "batched.json", args.runs, args.batch)
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


@contextlib.contextmanager
def served(folder: Path) -> Iterator[str]:
    """`bot serve FOLDER` on a free port, for as long as the block runs: yields the page's URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", "twitterbot.cli", "serve", str(folder), "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        yield server.stdout.readline().split(" at ")[1].split()[0]
    finally:
        server.terminate()
        server.wait()


def finetune_in_page(count: int) -> None:
    from twitterbot.corpus.prepare import prepare
    from twitterbot.training.finetune import finetune

    archive = ROOT.parent / "shared" / "data" / "archive" / "tweets.js"
    text = archive.read_text(encoding="utf-8")
    own = [t for t in json.loads(text[text.index("=") + 1 :]) if not t["tweet"]["full_text"].startswith("RT @")]
    tweets = own[:count]  # the account's own tweets: retweets are left out by cleaning anyway
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        account = tmp / "tweets.js"
        account.write_text("window.YTD.tweets.part0 = " + json.dumps(tweets), encoding="utf-8")
        base = open_checkpoint(None)
        export(base, tmp / "web")
        with served(tmp / "web") as url:
            out = tmp / "page.json"
            subprocess.run(
                ["node", "tests/js/browser.mjs", url, out, tmp / "page.png", "1", "1", account, tmp, "0"],
                cwd=ROOT,
                check=True,
                timeout=3600,
            )
            page = json.loads(out.read_text())
        tuning = page["yours"]["tuning"]
        config = tuning["config"]
        prepare([str(account)], tmp / "data", vocab=base.vocab, validate=0.1, test=0.05)
        log = io.StringIO()
        started = time.perf_counter()
        finetune(base.path, tmp / "data", tmp / "tuned", num_epochs=1, batch_size=config["batch_size"],
                 console=Console(file=log, force_terminal=False, width=200))  # fmt: skip
        keras_whole = time.perf_counter() - started
    keras_rate = float(re.findall(r"([\d,]+) chars/s", log.getvalue())[-1].replace(",", ""))  # the epoch's line
    page_rate = tuning["trainedChars"] / tuning["trainSeconds"]
    print(f"account: {page['yours']['summary']} (first {count} of {archive})")
    print(
        f"page: backend {tuning['backend']['backend']} (trial s/batch: {tuning['backend']['times']}); "
        f"batch {config['batch_size']}x{config['seq_len']}, {config['optimizer']} lr {config['learning_rate']:g}"
    )
    passes = f"a pass {tuning['trainSeconds']:.1f} s = {page_rate:,.0f} chars/s"
    print(f"page: {passes}; whole Learn {tuning['seconds']:.1f} s; loss {tuning['before']:.3f} → {tuning['after']:.3f}")
    keras = f"bot finetune (Keras on {os.environ.get('KERAS_BACKEND', 'jax')}) one epoch"
    print(f"reference, {keras}, same tweets and settings: {keras_rate:,.0f} chars/s, whole command {keras_whole:.1f} s")
    print(f"page / Keras: throughput {page_rate / keras_rate:.2f}x, whole {keras_whole / tuning['seconds']:.2f}x")
    print(json.dumps({"page_chars_per_s": page_rate, "learn_s": tuning["seconds"], "keras_chars_per_s": keras_rate,
                      "keras_whole_s": keras_whole}))  # fmt: skip


def run_page(url: str, out: Path, runs: int, streams: int) -> dict:
    """Time `runs` drafts of `streams` tweets in the page (bench/page_timing.mjs); every tweet must be full length."""
    driver = ["node", "bench/page_timing.mjs", url, out, str(runs), str(streams), str(TWEET)]
    subprocess.run(driver, cwd=ROOT, check=True, timeout=1800)
    result = json.loads(out.read_text())
    if result["errors"] or any(t["chars"] != TWEET * streams for t in result["timings"]):
        raise SystemExit(f"the page did not write full-length tweets: {result}")
    return result


if __name__ == "__main__":
    main()
