"""`bot import-web`: a model the page fine-tuned (its download) or an export, as a checkpoint again."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from twitterbot import fsutil
from twitterbot.config import Config
from twitterbot.corpus.vocab import FILE as VOCAB_FILE
from twitterbot.errors import BotError
from twitterbot.training.lstm import require_finite, weight_shapes

if TYPE_CHECKING:  # checkpoint imports Keras; `bot serve` asks this module what an export is
    pass

from twitterbot.web.exportfolder import (
    FILTERS,
    GENERATION,
    MAX_WORDS_BYTES,
    MODEL,
    NOVELTY,
    WORDS,
    WebFiles,
    check_version,
    decode_weights,
    read_json,
    read_novelty,
)


def import_web(source: Path, out: Path, force: bool = False) -> Path:
    """A checkpoint from a model the page wrote (a download: .zip or its unpacked folder) or an export.

    The weights are decoded as tfjs reads them (float32, or quantized float16 / uint8) and written as a
    Keras weights file; config.json and vocab.json come from generation.json and vocab.json, and the
    page's index of the tweets it trained on (novelty.bin) becomes novelty.npz, its words (words.txt.gz)
    the checkpoint's, its tweet-start state start_state.npz. Each file is checked against what it can
    hold before it is read."""
    from twitterbot.training import checkpoint

    source, out = Path(source), Path(out)
    with fsutil.lock(out, f"checkpoint folder {out}"):  # as training holds it
        fsutil.refuse_existing(out, force, "checkpoint folder", checkpoint.is_checkpoint, inputs=[source])
        files = WebFiles(source)
        try:
            return _import_web(files, source, out)
        finally:
            files.close()


def _import_web(files: WebFiles, source: Path, out: Path) -> Path:
    from twitterbot.backend import import_keras
    from twitterbot.corpus.vocab import Vocab
    from twitterbot.corpus.words import WordSet
    from twitterbot.training import checkpoint

    generation, vocab_json, model_json = (read_json(files, source, name) for name in (GENERATION, VOCAB_FILE, MODEL))
    check_version(generation, source)
    if "config" not in generation:
        raise BotError(f"{source}/{GENERATION}: no model settings (exported by an older twitterbot: export it again)")
    config = Config.from_dict(generation["config"], f"{source}/{GENERATION}")
    try:
        vocab = Vocab(vocab_json["chars"], vocab_json["counts"], float(vocab_json["coverage"]))
    except (KeyError, TypeError, ValueError, BotError) as error:
        raise BotError(f"{source}/{VOCAB_FILE}: not a twitterbot vocabulary ({str(error)[:200]})") from None
    if vocab.hash != vocab_json.get("hash") or vocab.size != config.vocab_size:
        raise BotError(f"{source}/{VOCAB_FILE}: its characters do not match the model's ({config.vocab_size} ids)")
    arrays = decode_weights(files, source, model_json, config)
    expected = [tuple(shape) for shape in weight_shapes(config)]
    if [array.shape for array in arrays] != expected:
        raise BotError(f"{source}/{MODEL}: weight shapes {[a.shape for a in arrays]} are not the model's {expected}")
    require_finite(f"{source}/{MODEL}", arrays)
    import_keras()
    from twitterbot.training.model import EMBEDDING, OUTPUT, build_model, lstm_name

    model = build_model(config, 1)
    model.get_layer(EMBEDDING).set_weights(arrays[:1])
    for index in range(config.num_layers):
        model.get_layer(lstm_name(index)).cell.set_weights(arrays[1 + 3 * index : 4 + 3 * index])
    model.get_layer(OUTPUT).set_weights(arrays[-2:])
    rules = read_json(files, source, FILTERS) if FILTERS in files else {}
    words = None
    if "words" in rules and WORDS in files:
        words = WordSet.from_bytes(files.read(WORDS, MAX_WORDS_BYTES, "a word list"), f"{source}/{WORDS}")
    index = read_novelty(files, source, rules) if "novelty" in rules and NOVELTY in files else None
    fsutil.sweep_stale(out.parent, out.name)
    with fsutil.staged_dir(out) as staging:
        checkpoint.create(staging, config, vocab, novelty=index, words=words)
        checkpoint.save_weights(staging, model)
        if "startState" in generation:
            checkpoint.save_start_state(staging, _start_state(generation["startState"], config, source))
    return out


def _start_state(rows: object, config: Config, source: Path) -> list[np.ndarray]:
    """generation.json's startState as a checkpoint's tweet-start state, checked against the model's shape."""
    from twitterbot.training.checkpoint import check_start_state

    try:
        state = [np.asarray(row, dtype=np.float32)[None, :] for row in rows]
    except (TypeError, ValueError) as error:
        raise BotError(f"{source}/{GENERATION}: startState is not lists of numbers ({error})") from error
    shape = f"{config.num_layers} layer(s) of {config.rnn_size} units"
    check_start_state(
        state, config, f"{source}/{GENERATION}: startState is not finite numbers fitting the model's {shape}"
    )
    return state
