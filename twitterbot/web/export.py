"""`bot export`: a checkpoint as a TF.js layers model plus the static page that writes tweets in the
browser, written as `exportfolder` says."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from twitterbot import __version__, fsutil
from twitterbot.config import FINETUNE_EPOCHS, FilterOptions, SampleOptions
from twitterbot.corpus.vocab import EOT, PLACEHOLDERS, SPECIALS, UNK
from twitterbot.corpus.vocab import FILE as VOCAB_FILE
from twitterbot.errors import BotError
from twitterbot.training.callbacks import plateau_schedule
from twitterbot.training.finetune import default_learning_rate
from twitterbot.training.lstm import stored_precision
from twitterbot.training.model import optimizer_rule
from twitterbot.writing.filters import page_rules
from twitterbot.writing.sample import REDRAWS, mention_chain

if TYPE_CHECKING:  # checkpoint imports Keras; `bot serve` asks this module what an export is
    from twitterbot.training.checkpoint import Checkpoint

from twitterbot.web.exportfolder import (
    EXPORT_VERSION,
    FILTERS,
    GENERATION,
    MODEL,
    NOVELTY,
    QUANTIZATIONS,
    WEB_ASSETS,
    WORDS,
    encode_weights,
    is_export,
    layer_weights,
    topology,
)

SHARD_BYTES = 4 * 1024 * 1024
PAGE_OPTIONS = ("temperature", "top_k", "top_p", "max_len", "link", "mention")  # the page's part of SampleOptions


def export(
    ckpt: Checkpoint,
    out: Path,
    quantize: str | None = None,
    options: SampleOptions = SampleOptions(),
    force: bool = False,
    filters: FilterOptions = FilterOptions(),
    novelty: bool = True,
) -> dict:
    """Write model.json, weight shards, vocab.json, generation.json and the page into `out`; return sizes.

    The page's defaults (temperature, top-k, top-p, length, what placeholders become) are `options`,
    written to generation.json, which is all the page reads them from. `quantize` None: the precision the
    checkpoint stores (float16 for the bundled model: float32 would be 1.5× the bytes for nothing).
    `filters` go to filters.json; with `novelty`, the checkpoint's novelty index (if it has one) goes to
    novelty.bin, so the page refuses copies of training tweets too; its words (if it has them and
    `filters` check words) to words.txt.gz, so the page refuses non-words as `bot generate` does.
    """
    if quantize not in (None, *QUANTIZATIONS):
        raise BotError(f"--quantize must be one of {', '.join(QUANTIZATIONS)} (got {quantize!r})")
    out = Path(out)
    fsutil.refuse_existing(out, force, "export folder", is_export, inputs=[ckpt.path])
    fsutil.sweep_stale(out.parent, out.name)  # what a killed export into `out` left
    quantize = quantize or stored_precision(ckpt.weights)
    specs, data = encode_weights(layer_weights(ckpt), quantize)
    rules = page_rules(filters)
    training = ckpt.novelty() if novelty else None  # the training tweets' index
    words = ckpt.words() if filters.non_words >= 0 else None
    shard_count = max(1, -(-len(data) // SHARD_BYTES))
    paths = [f"group1-shard{i + 1}of{shard_count}.bin" for i in range(shard_count)]
    with fsutil.staged_dir(out) as staging:
        for index, name in enumerate(paths):
            (staging / name).write_bytes(data[index * SHARD_BYTES : (index + 1) * SHARD_BYTES])
        model_json = {
            "format": "layers-model",
            "generatedBy": f"twitterbot {__version__}",
            "convertedBy": f"twitterbot {__version__}",
            "modelTopology": topology(ckpt),
            "weightsManifest": [{"paths": paths, "weights": specs}],
        }
        fsutil.write_json(staging / MODEL, model_json)
        vocab = {"eot": EOT, "unk": UNK, "specials": list(SPECIALS), "chars": ckpt.vocab.chars}
        vocab |= {"counts": ckpt.vocab.counts, "coverage": ckpt.vocab.coverage}  # for `bot import-web`
        fsutil.write_json(staging / VOCAB_FILE, {**vocab, "placeholders": PLACEHOLDERS, "hash": ckpt.vocab.hash})
        generation = {name: getattr(options, name) for name in PAGE_OPTIONS}
        start_state = ckpt.start_state()
        if start_state is not None:  # where the page starts each tweet, as `bot generate` does
            generation["startState"] = [part[0].tolist() for part in start_state]
        fsutil.write_json(  # the page fine-tunes with the checkpoint's settings, as `bot finetune` would
            staging / GENERATION,
            {
                **generation,
                "format_version": EXPORT_VERSION,
                "config": dataclasses.asdict(ckpt.config),
                "finetune_epochs": FINETUNE_EPOCHS,
                "finetune_learning_rate": default_learning_rate(ckpt.config),
                "optimizer": optimizer_rule(ckpt.config),  # Keras's constants of the base's optimizer
                "schedule": plateau_schedule(ckpt.config),  # when fine-tuning halves its rate and stops
                "redraws": REDRAWS,  # candidates drawn at most: (1 + redraws) × n, as `bot generate`
                "mention_chain": mention_chain(ckpt.vocab),  # no third mention in a row, as `bot generate`
            },
        )
        if training is not None:
            rules["novelty"] = {
                "file": NOVELTY,
                "tweets": len(training.tweets),
                "minima": len(training.minima),
                "gram": training.gram,
                "window": training.window,
                "compact": training.compact,
            }
            hashes = training.tweets.astype("<u8").tobytes() + training.minima.astype("<u4").tobytes()
            (staging / NOVELTY).write_bytes(hashes)
        if words is not None:
            rules["words"] = {"file": WORDS, "count": len(words)}
            (staging / WORDS).write_bytes(words.to_bytes())
        fsutil.write_json(staging / FILTERS, rules)
        for asset in WEB_ASSETS.rglob("*"):
            if asset.is_file():
                target = staging / asset.relative_to(WEB_ASSETS)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(asset, target)
    novelty_bytes = 0 if training is None else training.tweets.nbytes + training.minima.nbytes
    words_bytes = 0 if words is None else (out / WORDS).stat().st_size
    return {
        "weights_bytes": len(data),
        "shards": shard_count,
        "quantize": quantize,
        "novelty_bytes": novelty_bytes,
        "words_bytes": words_bytes,
    }
