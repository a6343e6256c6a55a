"""The export folder's contract, versioned: every file `bot export` writes and the page, `bot serve`
and `bot import-web` read (`model.json` + weight shards in the tfjs layers format, `generation.json`,
`filters.json`, `vocab.json`, `novelty.bin`, `words.txt.gz`, the page), how weights are encoded and
decoded, and a download's files read with bounds, so a hostile archive is refused before it is read.

The topology is written by hand as a Keras-2-style Sequential (what @tensorflow/tfjs loads): the
`tensorflowjs` pip package is not used, since it downgrades TensorFlow and its Keras 3 output does
not load in tfjs 4.22. Weights are little-endian float32 (or quantized) shards of at most 4 MB.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from twitterbot import fsutil
from twitterbot.config import Config
from twitterbot.corpus.novelty import LEGACY, NoveltyIndex
from twitterbot.corpus.words import FILE as WORDS_FILE
from twitterbot.errors import BotError
from twitterbot.training.lstm import ModelWeights, weight_shapes

if TYPE_CHECKING:  # checkpoint imports Keras; `bot serve` asks this module what an export is
    from twitterbot.training.checkpoint import Checkpoint


EXPORT_VERSION = 1  # generation.json's format_version; an export without one is 1
MODEL = "model.json"  # topology and weight manifest, as tf.loadLayersModel reads them
GENERATION = "generation.json"  # the page's sampling defaults
FILTERS = "filters.json"  # the rules the page applies to what it shows, as `bot generate` does
NOVELTY = "novelty.bin"  # the training tweets' index, when the checkpoint has one: tweet hashes, then n-grams
WORDS = WORDS_FILE  # the words the checkpoint knows, when it has them and the non-word rule is on
PAGE = "index.html"  # from WEB_ASSETS, with the page's scripts
WEB_ASSETS = Path(__file__).parent / "page"
MAX_ZIP_BYTES = 1 << 29  # unpacked from one download at most: a page-made model is tens of MB
ZIP_RATIO = 100  # unpacked / packed bytes of a member, at most: weights and hashes barely compress
MAX_WORDS_BYTES = 64 << 20  # a word list (the base corpus's: 0.3 MB)


Quantize = Literal["float32", "float16", "uint8"]


QUANTIZATIONS = get_args(Quantize)


def check_version(generation: dict, source: Path) -> None:
    """Refuse an export of a format this twitterbot does not read (one written by a newer version)."""
    version = generation.get("format_version", 1)
    if not isinstance(version, int) or not 1 <= version <= EXPORT_VERSION:
        raise BotError(
            f"{source}/{GENERATION}: export format {str(version)[:20]}, this twitterbot reads {EXPORT_VERSION}: "
            "a newer twitterbot wrote it"
        )


def is_export(path: Path) -> bool:
    """Whether a folder is one `bot export` wrote (the only kind its --force replaces)."""
    return all((Path(path) / piece).is_file() for piece in (MODEL, GENERATION, PAGE))


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


class WebFiles:
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


def read_json(files: WebFiles, source: Path, name: str) -> dict:
    if name not in files:
        raise BotError(f"{source}: no {name} (not a model the page or `bot export` wrote)")
    try:
        value = json.loads(files.read(name, fsutil.MAX_JSON_BYTES, "a JSON file of a model").decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise BotError(f"{source}/{name}: not JSON ({str(error)[:200]})") from None
    if not isinstance(value, dict):
        raise BotError(f"{source}/{name}: expected a JSON object")
    return value


def decode_weights(files: WebFiles, source: Path, model_json: dict, config: Config) -> list[np.ndarray]:
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


def read_novelty(files: WebFiles, source: Path, rules: dict) -> NoveltyIndex:
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
