"""twitterbot: turn a pile of tweets into a character-level LSTM that writes like them.

The Keras backend is chosen here, once, before any module imports Keras, for the command line and
library users alike: JAX unless KERAS_BACKEND says otherwise. It trains 2.3× faster than TensorFlow on
a CPU here, carries the LSTM state on both (docs/benchmarks.md), and is the GPU path.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's start-up chatter off the terminal

__version__ = "0.1.0"
