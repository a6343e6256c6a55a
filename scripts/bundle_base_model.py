"""Copy a trained checkpoint into the package as the bundled base model (twitterbot/models/base/).

Keeps what generation, evaluation, export and fine-tuning need — config.json, vocab.json,
history.csv, loss.png, the best weights re-saved without optimizer slots and stored as float16
(Keras casts them back to float32 on load; the test loss moves by < 1e-3), and the tweet-start
state of those float16 weights, read from the training split of DATA (the data folder the model
was trained on), the words it knows (the checkpoint's, or DATA's for a run begun before
checkpoints kept them) and a compact index of DATA's tweets (novelty.NoveltyIndex, compact: the
n-grams chosen twice or more, the short tweets) — and nothing of the training state. `--state`
takes the weights of the last saved training state instead of the best epoch's: a run of less than
one epoch over a large corpus (`--save-every`) has no best epoch.

    python scripts/bundle_base_model.py CKPT_DIR DATA [--state]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from twitterbot.corpus.datafolder import open_data, require_vocab, stream_tweets
from twitterbot.corpus.novelty import NoveltyIndex
from twitterbot.training import checkpoint, runstate
from twitterbot.training.checkpoint import BUNDLED, open_checkpoint

LIMIT_BYTES = 10 * 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("data", type=Path, help="the data folder it was trained on (its tweet-start state)")
    parser.add_argument("--state", action="store_true", help="the last saved training state's weights")
    args = parser.parse_args()
    if args.state:  # a run stopped within its first epoch has config, vocab and state, but no best weights yet
        ckpt = checkpoint.Checkpoint(args.checkpoint, *checkpoint.open_run(args.checkpoint))
        weights = runstate.last_state_weights(args.checkpoint)
    else:
        ckpt, weights = open_checkpoint(args.checkpoint), None
    data = open_data(args.data)
    require_vocab(data, ckpt.vocab, ckpt.path)
    words = ckpt.words() or data.words()
    novelty = NoveltyIndex.build(stream_tweets(data.h5_path, data.vocab), compact=True)
    checkpoint.write_release(ckpt, BUNDLED, data.split("train"), words, novelty, weights)
    size = sum(p.stat().st_size for p in BUNDLED.iterdir())
    print(f"bundled {ckpt.path} into {BUNDLED}: {size / 1e6:.2f} MB")
    if size > LIMIT_BYTES:
        raise SystemExit(f"the bundled model must stay under {LIMIT_BYTES / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
