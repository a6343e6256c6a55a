"""Which Keras backend `bot` runs on, and Keras imported only by the commands that need it.

JAX by default: it trains 2.3× faster than TensorFlow on CPU here, carries the LSTM state on both
(docs/benchmarks.md), and is the GPU path. Importing Keras and starting a backend takes 2–3 s, so
`bot --help`, `bot generate` for a few tweets, `bot post` and every error before them answer without it.
"""

from __future__ import annotations

import importlib.util
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")  # before anything imports Keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's start-up chatter off the terminal


def import_keras(tensorflow: bool = False) -> None:
    """Import Keras (and TensorFlow) with native stderr muted: TF prints start-up lines no setting turns off.

    `tensorflow`: also import TensorFlow on other backends, for training's TensorBoard logs.
    """
    if "keras" in sys.modules and not tensorflow:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import keras  # noqa: F401

            if tensorflow and importlib.util.find_spec("tensorflow"):
                import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
