"""The reference-size model the benchmarks share: vocab 98, embedding 64, one LSTM of 512.

Random weights, with the end-of-tweet bias pushed down so every sample runs the full 280
characters: the benchmarks time full-length tweets.
"""

from __future__ import annotations

from pathlib import Path

from twitterbot.config import Config
from twitterbot.corpus.vocab import EOT, Vocab
from twitterbot.training import checkpoint
from twitterbot.training.model import build_model

TWEET = 280


def reference_checkpoint(folder: Path, rnn_size: int = 512, num_layers: int = 1, embedding_size: int = 64) -> Path:
    """Write a checkpoint folder of the reference size (or another shape); return its path."""
    chars = [chr(c) for c in range(33, 33 + 96)]
    vocab = Vocab(chars, [1] * len(chars), 1.0)
    config = Config(vocab_size=vocab.size, embedding_size=embedding_size, rnn_size=rnn_size, num_layers=num_layers)
    model = build_model(config, 1, 1)
    dense = model.get_layer("next_char")
    kernel, bias = dense.get_weights()
    bias[EOT] = -30.0  # never end early
    dense.set_weights([kernel, bias])
    checkpoint.create(folder, config, vocab)
    model.save_weights(folder / checkpoint.WEIGHTS)
    return folder
