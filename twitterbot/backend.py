"""Keras imported only by the commands that need it, with TensorFlow's start-up chatter muted.

Importing Keras and starting a backend takes 2–3 s, so `bot --help`, `bot generate` for a few tweets,
`bot post` and every error before them answer without it. Which backend: `twitterbot/__init__.py`.
"""

from __future__ import annotations

import importlib.util
import os
import sys


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
