"""`bot export`: a checkpoint as a TF.js layers model plus a static page that writes tweets in the browser.

The topology is written by hand as a Keras-2-style Sequential (what @tensorflow/tfjs loads): the
`tensorflowjs` pip package is not used, since it downgrades TensorFlow and its Keras 3 output does
not load in tfjs 4.22. Weights are little-endian float32 (or quantized) shards of at most 4 MB.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from twitterbot import __version__, fsutil
from twitterbot.config import FINETUNE_EPOCHS, Config, FilterOptions, SampleOptions
from twitterbot.corpus.novelty import LEGACY, NoveltyIndex
from twitterbot.corpus.vocab import EOT, PLACEHOLDERS, SPECIALS, UNK
from twitterbot.corpus.vocab import FILE as VOCAB_FILE
from twitterbot.corpus.words import FILE as WORDS_FILE
from twitterbot.errors import BotError
from twitterbot.training.lstm import ModelWeights, require_finite, stored_precision, weight_shapes
from twitterbot.writing.filters import page_rules

if TYPE_CHECKING:  # checkpoint imports Keras; `bot serve` asks this module what an export is
    from twitterbot.training.checkpoint import Checkpoint

MODEL = "model.json"  # topology and weight manifest, as tf.loadLayersModel reads them
GENERATION = "generation.json"  # the page's sampling defaults
FILTERS = "filters.json"  # the rules the page applies to what it shows, as `bot generate` does
NOVELTY = "novelty.bin"  # the training tweets' index, when the checkpoint has one: tweet hashes, then n-grams
WORDS = WORDS_FILE  # the words the checkpoint knows, when it has them and the non-word rule is on
PAGE = "index.html"  # from WEB_ASSETS, with the page's scripts
WEB_ASSETS = Path(__file__).parent / "page"
SHARD_BYTES = 4 * 1024 * 1024
MAX_ZIP_BYTES = 1 << 29  # unpacked from one download at most: a page-made model is tens of MB
ZIP_RATIO = 100  # unpacked / packed bytes of a member, at most: weights and hashes barely compress
MAX_WORDS_BYTES = 64 << 20  # a word list (the base corpus's: 0.3 MB)
Quantize = Literal["float32", "float16", "uint8"]
QUANTIZATIONS = get_args(Quantize)
PAGE_OPTIONS = ("temperature", "top_k", "top_p", "max_len", "link", "mention")  # the page's part of SampleOptions


def layer_weights(ckpt: Checkpoint) -> list[tuple[str, np.ndarray]]:
    """(tfjs weight name, little-endian float32 array) in topology order: embedding, each LSTM, dense."""
    from twitterbot.training.model import EMBEDDING, OUTPUT, lstm_name  # Keras: only when exporting

    weights = ModelWeights.read(ckpt.weights, ckpt.config)
    named = [(f"{EMBEDDING}/embeddings", weights.embedding)]
    for index, (kernel, recurrent, bias) in enumerate(weights.lstms):
        name = lstm_name(index)
        named += [(f"{name}/kernel", kernel), (f"{name}/recurrent_kernel", recurrent), (f"{name}/bias", bias)]
    named += [(f"{OUTPUT}/kernel", weights.dense[0]), (f"{OUTPUT}/bias", weights.dense[1])]
    return [(name, array.astype("<f4")) for name, array in named]


def topology(ckpt: Checkpoint) -> dict:
    """The model as a Keras 2 Sequential config, batch 1, one character per step, stateful."""
    from twitterbot.training.model import EMBEDDING, OUTPUT, lstm_name

    config = ckpt.config
    glorot = {"class_name": "GlorotUniform", "config": {"seed": None}}
    zeros = {"class_name": "Zeros", "config": {}}
    layers = [
        {
            "class_name": "Embedding",
            "config": {
                "name": EMBEDDING,
                "trainable": False,
                "dtype": "float32",
                "batch_input_shape": [1, 1],
                "input_dim": config.vocab_size,
                "output_dim": config.embedding_size,
                "input_length": 1,
                "mask_zero": False,
                "embeddings_initializer": {
                    "class_name": "RandomUniform",
                    "config": {"minval": -0.05, "maxval": 0.05, "seed": None},
                },
            },
        }
    ]
    for index in range(config.num_layers):
        layers.append(
            {
                "class_name": "LSTM",
                "config": {
                    "name": lstm_name(index),
                    "trainable": False,
                    "dtype": "float32",
                    "units": config.rnn_size,
                    "return_sequences": True,
                    "return_state": False,
                    "go_backwards": False,
                    "stateful": True,
                    "unroll": False,
                    "time_major": False,
                    "activation": "tanh",
                    "recurrent_activation": "sigmoid",
                    "use_bias": True,
                    "unit_forget_bias": True,
                    "dropout": 0.0,
                    "recurrent_dropout": 0.0,
                    "implementation": 2,
                    "kernel_initializer": glorot,
                    "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": None}},
                    "bias_initializer": zeros,
                },
            }
        )
    layers.append(
        {
            "class_name": "Dense",
            "config": {
                "name": OUTPUT,
                "trainable": False,
                "dtype": "float32",
                "units": config.vocab_size,
                "activation": "softmax",
                "use_bias": True,
                "kernel_initializer": glorot,
                "bias_initializer": zeros,
            },
        }
    )
    return {
        "class_name": "Sequential",
        "config": {"name": "char_rnn", "layers": layers},
        "keras_version": "2.15.0",
        "backend": "tensorflow",
    }


def encode_weights(named: list[tuple[str, np.ndarray]], quantize: str | None) -> tuple[list[dict], bytes]:
    """The manifest entries and the concatenated bytes, quantized as tfjs decodes them."""
    specs, chunks = [], []
    for name, value in named:
        spec = {"name": name, "shape": list(value.shape), "dtype": "float32"}
        if quantize == "float16":
            data = value.astype("<f2").tobytes()
            spec["quantization"] = {"dtype": "float16"}
        elif quantize == "uint8":
            low, high = float(value.min()), float(value.max())
            scale = (high - low) / 255 if high > low else 1.0
            data = np.round((value - low) / scale).clip(0, 255).astype(np.uint8).tobytes()
            spec["quantization"] = {"dtype": "uint8", "min": low, "scale": scale}
        else:
            data = value.tobytes()
        specs.append(spec)
        chunks.append(data)
    return specs, b"".join(chunks)


def is_export(path: Path) -> bool:
    """Whether a folder is one `bot export` wrote (the only kind its --force replaces)."""
    return all((Path(path) / piece).is_file() for piece in (MODEL, GENERATION, PAGE))


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
            {**generation, "config": dataclasses.asdict(ckpt.config), "finetune_epochs": FINETUNE_EPOCHS},
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
        files = _WebFiles(source)
        try:
            return _import_web(files, source, out)
        finally:
            files.close()


def _import_web(files: _WebFiles, source: Path, out: Path) -> Path:
    from twitterbot.backend import import_keras
    from twitterbot.corpus.vocab import Vocab
    from twitterbot.corpus.words import WordSet
    from twitterbot.training import checkpoint

    generation, vocab_json, model_json = (_json(files, source, name) for name in (GENERATION, VOCAB_FILE, MODEL))
    if "config" not in generation:
        raise BotError(f"{source}/{GENERATION}: no model settings (exported by an older twitterbot: export it again)")
    config = Config.from_dict(generation["config"], f"{source}/{GENERATION}")
    try:
        vocab = Vocab(vocab_json["chars"], vocab_json["counts"], float(vocab_json["coverage"]))
    except (KeyError, TypeError, ValueError, BotError) as error:
        raise BotError(f"{source}/{VOCAB_FILE}: not a twitterbot vocabulary ({str(error)[:200]})") from None
    if vocab.hash != vocab_json.get("hash") or vocab.size != config.vocab_size:
        raise BotError(f"{source}/{VOCAB_FILE}: its characters do not match the model's ({config.vocab_size} ids)")
    arrays = _decode_weights(files, source, model_json, config)
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
    rules = _json(files, source, FILTERS) if FILTERS in files else {}
    words = None
    if "words" in rules and WORDS in files:
        words = WordSet.from_bytes(files.read(WORDS, MAX_WORDS_BYTES, "a word list"), f"{source}/{WORDS}")
    index = _novelty(files, source, rules) if "novelty" in rules and NOVELTY in files else None
    fsutil.sweep_stale(out.parent, out.name)
    with fsutil.staged_dir(out) as staging:
        checkpoint.create(staging, config, vocab, words=words)
        model.save_weights(staging / checkpoint.WEIGHTS)
        if "startState" in generation:
            _write_start_state(staging / checkpoint.START_STATE, generation["startState"], config, source)
        if index is not None:
            index.save(staging / checkpoint.NOVELTY)
    return out


def _novelty(files: _WebFiles, source: Path, rules: dict) -> NoveltyIndex:
    """novelty.bin as filters.json describes it (tweet hashes, then n-gram minima), checked before it is read."""

    counts = rules["novelty"]
    try:
        tweets, minima = (int(counts[key]) for key in ("tweets", "minima"))
        gram, window = (int(counts.get(key, old)) for key, old in zip(("gram", "window"), LEGACY, strict=True))
        if min(tweets, minima) < 0 or not (1 <= gram <= 64 and 1 <= window <= 64):
            raise ValueError("counts out of range")
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as error:
        raise BotError(f"{source}/{FILTERS}: not a description of a novelty index ({str(error)[:100]})") from None
    size = 8 * tweets + 4 * minima
    if files.sizes[NOVELTY] != size:
        raise BotError(f"{source}/{NOVELTY}: {files.sizes[NOVELTY]:,} bytes, not the index {FILTERS} describes")
    data = files.read(NOVELTY, size, "the index filters.json describes")
    hashes = np.frombuffer(data, "<u8", tweets).astype(np.uint64)
    kept = np.frombuffer(data, "<u4", minima, offset=8 * tweets).astype(np.uint32)
    return NoveltyIndex(hashes, kept, gram, window, bool(counts.get("compact")))


def _write_start_state(path: Path, rows: object, config: Config, source: Path) -> None:
    """generation.json's startState as a checkpoint's start_state.npz, checked against the model's shape."""
    from twitterbot.training.checkpoint import check_start_state

    try:
        state = [np.asarray(row, dtype=np.float32)[None, :] for row in rows]
    except (TypeError, ValueError) as error:
        raise BotError(f"{source}/{GENERATION}: startState is not lists of numbers ({error})") from error
    shape = f"{config.num_layers} layer(s) of {config.rnn_size} units"
    check_start_state(
        state, config, f"{source}/{GENERATION}: startState is not finite numbers fitting the model's {shape}"
    )
    with open(path, "wb") as stream:
        np.savez(stream, *state)


class _WebFiles:
    """The files of a page download (.zip) or an export folder, by name (a zip's may sit in one folder
    inside it), each read only when asked for and only if it holds no more than `limit` bytes, so a small
    hostile archive (members declaring gigabytes, a zip bomb) or a sparse file is refused before it is read."""

    def __init__(self, source: Path):
        self.source, self.archive, self.read_bytes = source, None, 0
        if not source.exists():
            raise BotError(f"{source}: no such file or folder")
        try:
            if source.is_dir():
                self.sizes = {path.name: path.stat().st_size for path in source.iterdir() if path.is_file()}
                return
            if not source.is_file():
                raise BotError(f"{source}: not a regular file or folder (a .zip the page wrote, or an export)")
            self.archive = zipfile.ZipFile(source)
            members = [info for info in self.archive.infolist() if not info.is_dir()]
        except (OSError, zipfile.BadZipFile, zlib.error, ValueError, NotImplementedError) as error:
            raise BotError(f"{source}: not a model folder or a .zip the page wrote ({str(error)[:200]})") from None
        self.members = {Path(info.filename).name: info for info in members}
        self.sizes = {name: info.file_size for name, info in self.members.items()}

    def __contains__(self, name: str) -> bool:
        return name in self.sizes

    def read(self, name: str, limit: int, what: str) -> bytes:
        """The file `name`, refused if it holds more than `limit` bytes (what such a file can hold: `what`)."""
        size = self.sizes[name]
        if size > limit:
            raise BotError(f"{self.source}/{name}: {size:,} bytes, more than {what} holds ({limit:,})")
        try:
            if self.archive is None:
                return (self.source / name).read_bytes()
            info = self.members[name]
            if size > ZIP_RATIO * info.compress_size + (1 << 20):
                raise BotError(f"{self.source}/{name}: {size:,} bytes from {info.compress_size:,}: a zip bomb")
            self.read_bytes += size
            if self.read_bytes > MAX_ZIP_BYTES:
                raise BotError(f"{self.source}: more than {MAX_ZIP_BYTES:,} bytes unpacked: not a model the page wrote")
            return self.archive.read(info)
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:  # an odd zip version
            raise BotError(f"{self.source}/{name}: cannot read it ({str(error)[:200]})") from None

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()


def _json(files: _WebFiles, source: Path, name: str) -> dict:
    if name not in files:
        raise BotError(f"{source}: no {name} (not a model the page or `bot export` wrote)")
    try:
        value = json.loads(files.read(name, fsutil.MAX_JSON_BYTES, "a JSON file of a model").decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise BotError(f"{source}/{name}: not JSON ({str(error)[:200]})") from None
    if not isinstance(value, dict):
        raise BotError(f"{source}/{name}: expected a JSON object")
    return value


def _decode_weights(files: _WebFiles, source: Path, model_json: dict, config: Config) -> list[np.ndarray]:
    """The weights in manifest order, decoded as tfjs decodes them (the inverse of encode_weights); the
    shards may hold no more than the model's weights in float32."""
    most = 4 * sum(math.prod(shape) for shape in weight_shapes(config))
    try:
        groups = model_json["weightsManifest"]
        paths = [path for group in groups for path in group["paths"]]
        if any(not isinstance(path, str) or path not in files for path in paths):
            raise KeyError("a weight shard")
        if sum(files.sizes[path] for path in paths) > most:
            raise ValueError(f"the shards hold more than the model's {most:,} bytes of weights")
        data = b"".join(files.read(path, most, "the model's weights") for path in paths)
        specs = [spec for group in groups for spec in group["weights"]]
        arrays, offset = [], 0
        for spec in specs:
            count = math.prod(spec["shape"])
            kind = spec.get("quantization", {}).get("dtype", "float32")
            size = {"float32": 4, "float16": 2, "uint8": 1}[kind] * count
            if offset + size > len(data):
                raise ValueError(f"the shards end inside {spec['name']}")
            raw = np.frombuffer(data, {"float32": "<f4", "float16": "<f2", "uint8": "u1"}[kind], count, offset)
            if kind == "uint8":
                raw = raw * np.float32(spec["quantization"]["scale"]) + np.float32(spec["quantization"]["min"])
            arrays.append(raw.astype(np.float32).reshape(spec["shape"]))
            offset += size
    except KeyError as error:
        raise BotError(f"{source}/{MODEL}: missing {error} (a weight shard, or a part of the manifest)") from error
    except (TypeError, ValueError, AttributeError, OverflowError) as error:
        raise BotError(f"{source}/{MODEL}: unreadable weights ({str(error)[:200]})") from None
    return arrays
