"""Sampling speed (chars/s) of `bot generate`'s compiled sampler vs a PyTorch nn.LSTM step loop.

Reference-size model (vocab 98, embedding 64, LSTM 512), full 280-character tweets, 1 and 64
streams. Both samplers use the same weights and the same rules (temperature 0.8, <unk> masked);
timings are after a warm-up call (the compile), best of --repeats. Also times the naive Keras
loop (`model(x)` once per character) on a short sample, for scale.

    pip install torch==2.13.0   # bench-only
    python bench/sample_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
from reference import TWEET, reference_checkpoint

from twitterbot.corpus.vocab import EOT, UNK
from twitterbot.training.checkpoint import open_checkpoint
from twitterbot.training.model import lstm_weights, reset_states
from twitterbot.writing.sample import SampleOptions, Sampler


def best_time(function, repeats: int) -> float:
    function()  # warm-up: compiles
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def torch_sampler(model: keras.Model, streams: int, temperature: float = 0.8):
    """The PyTorch reference: nn.Embedding → nn.LSTM → nn.Linear stepped once per character."""
    import torch

    torch.set_num_threads(2)
    embedding_weights = model.get_layer("embedding").get_weights()[0]
    kernel, recurrent, bias = lstm_weights(model.get_layer("lstm_0"))
    dense_kernel, dense_bias = model.get_layer("next_char").get_weights()
    embedding = torch.nn.Embedding.from_pretrained(torch.from_numpy(embedding_weights))
    lstm = torch.nn.LSTM(kernel.shape[0], recurrent.shape[0], batch_first=True)
    linear = torch.nn.Linear(*dense_kernel.shape)
    with torch.no_grad():  # same gate order (i, f, g, o) as Keras; one bias is enough
        lstm.weight_ih_l0.copy_(torch.from_numpy(kernel.T.copy()))
        lstm.weight_hh_l0.copy_(torch.from_numpy(recurrent.T.copy()))
        lstm.bias_ih_l0.copy_(torch.from_numpy(bias))
        lstm.bias_hh_l0.zero_()
        linear.weight.copy_(torch.from_numpy(dense_kernel.T.copy()))
        linear.bias.copy_(torch.from_numpy(dense_bias))
    generator = torch.Generator().manual_seed(0)

    def run() -> int:
        with torch.no_grad():
            ids = torch.full((streams, 1), EOT, dtype=torch.long)
            state = None
            written = 0
            for _ in range(TWEET):
                out, state = lstm(embedding(ids), state)
                logits = linear(out[:, -1]) / temperature
                logits[:, UNK] = -float("inf")
                ids = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)
                written += streams
            return written

    return run


def keras_per_char(ckpt, chars: int) -> float:
    """Seconds per character of the naive loop: the Keras model called once per character."""
    model = ckpt.load_model(1, 1)
    reset_states(model)
    x = np.array([[EOT]], "int32")
    model(x)
    started = time.perf_counter()
    for _ in range(chars):
        probabilities = keras.ops.convert_to_numpy(model(x))[0, -1]
        x = np.array([[int(np.argmax(probabilities))]], "int32")
    return (time.perf_counter() - started) / chars


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = open_checkpoint(reference_checkpoint(Path(tmp) / "ckpt"))
        sampler = Sampler(ckpt, compiled=True)
        model = ckpt.load_model(1, 1)
        print(
            f"backend {keras.backend.backend()}; reference model: vocab {ckpt.vocab.size}, LSTM 512; "
            f"{TWEET}-character samples"
        )
        naive = 1 / keras_per_char(ckpt, 40)
        print(f"naive Keras model(x) per character, 1 stream: {naive:,.0f} chars/s")
        for streams in (1, 64):
            options = SampleOptions(max_len=TWEET, seed=0)

            def ours(streams=streams, options=options):
                tweets = sampler.sample(streams, options)
                assert all(len(t) == TWEET for t in tweets)

            ours_rate = streams * TWEET / best_time(ours, args.repeats)
            torch_rate = streams * TWEET / best_time(torch_sampler(model, streams), args.repeats)
            print(
                f"{streams:>2} streams: bot generate sampler {ours_rate:,.0f} chars/s; "
                f"PyTorch nn.LSTM step loop {torch_rate:,.0f} chars/s; ratio {ours_rate / torch_rate:.1f}x"
            )


if __name__ == "__main__":
    main()
