"""The Keras 3 model: Embedding → Dropout → N × stateful LSTM (+ Dropout) → Dense (next-character logits).

Backend-neutral (no TensorFlow calls), so the same code trains on TensorFlow and on JAX.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import keras
import numpy as np
from keras import layers

from twitterbot.config import OPTIMIZERS, Config
from twitterbot.training.lstm import lstm_cell

EMBEDDING = "embedding"
OUTPUT = "next_char"  # the Dense layer of next-character logits

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)  # nats per character


# The longest sequence the TensorFlow loop unrolls: the graph grows by a step's ops for each character.
MAX_UNROLL = 128


class CarriedLSTM(layers.LSTM):
    """A stateful LSTM whose (h, c) carry from one batch to the next on every backend.

    Keras's own stateful RNN keeps its states as untracked variables, so JAX's compiled
    fit/evaluate/predict steps, which only return the variables a model tracks, drop every update:
    the state was zero at each batch. Here h and c are tracked non-trainable variables, assigned in
    `call` the way BatchNormalization keeps its moving statistics, so every backend carries them.
    They are not weights: weight files leave them out (checkpoint.py saves them with the training state).
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(units, stateful=True, return_sequences=True, **kwargs)

    def _create_state_variables(self, batch_size: int) -> None:
        self.states = [
            self.add_weight(shape=(batch_size, self.units), initializer="zeros", trainable=False, name=name)
            for name in ("h", "c")
        ]

    def call(self, sequences, initial_state=None, mask=None, training=False):
        # TensorFlow traces a dataset's batches with the batch size unknown; broadcast with a state of one
        # row it stays unknown, and its while loop refuses a state whose shape changed (batch size 1 failed).
        # The length stays given where it is known: TensorFlow's loop unrolls only a known one.
        steps = -1 if sequences.shape[1] is None else sequences.shape[1]
        sequences = keras.ops.reshape(sequences, (self.states[0].shape[0], steps, sequences.shape[-1]))
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        """On TensorFlow, the recurrence as one input product for the whole sequence, then the steps
        unrolled: there each small op of a step costs tens of microseconds of dispatch, more than its
        arithmetic, and this runs fewer of them (bfloat16 training ~20 % faster, docs/benchmarks.md). Each
        step is `lstm.lstm_cell`, Keras's gates (the model keeps the cell's sigmoid and tanh). JAX runs Keras's
        own loop faster, so keeps it."""
        steps = sequences.shape[1]
        cell = self.cell
        if keras.backend.backend() != "tensorflow" or steps is None or steps > MAX_UNROLL or mask is not None:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        ops = keras.ops
        projected = ops.add(ops.matmul(sequences, cell.kernel), cell.bias)
        recurrent = cell.recurrent_kernel  # read once: in mixed precision each read is a cast
        h, c = initial_state
        outputs = []
        # Time-major pieces: a slice per step would cost a whole-sequence gradient per step.
        for inputs in ops.unstack(ops.transpose(projected, (1, 0, 2)), num=steps):
            h, c = lstm_cell(inputs, h, c, recurrent, ops)
            outputs.append(h)
        return h, ops.stack(outputs, axis=1), [h, c]

    def save_own_variables(self, store) -> None:
        """h and c are not weights: nothing of this layer's own goes into a weight file (its cell's weights do)."""

    def load_own_variables(self, store) -> None:
        """Weight files hold no state of this layer (see save_own_variables)."""


# Weight files name a layer's group after its class (`layers/lstm/cell/vars/0`): keep LSTM's name, so
# every checkpoint written before this class existed loads, and what is written now reads the same.
CarriedLSTM.__name__ = CarriedLSTM.__qualname__ = "LSTM"


def build_model(config: Config, batch_size: int, seq_len: int | None = None, precision: str = "float32") -> keras.Model:
    """A model with a fixed batch size (stateful RNNs need one); seq_len None takes any length.

    It outputs logits (the next character's scores before softmax) and LOSS reads them, so the loss
    is exact and the same on every backend: from softmax probabilities, Keras on JAX clips them at
    1e-7 while TensorFlow quietly reads the logits, and the bundled model's test loss was 1.6587 on
    JAX against 1.6715 on TensorFlow. Weight files are the same either way.

    `precision` (training's config.precision) is the Keras dtype policy of every layer but the logits:
    "mixed_bfloat16" keeps the weights, the optimizer and what is saved float32 and runs the embedding
    and LSTM in bfloat16, whose products AMX CPUs run 2.6× faster (docs/benchmarks.md); logits and
    loss stay float32. Sampling and evaluation build float32 models.
    """
    policy = keras.DTypePolicy(precision)
    ids = keras.Input(batch_shape=(batch_size, seq_len), dtype="int32", name="ids")
    x = layers.Embedding(
        config.vocab_size,
        config.embedding_size,
        name=EMBEDDING,
        trainable=not config.freeze_embedding,
        dtype=policy,
    )(ids)
    x = layers.Dropout(config.drop_rate, name="embedding_dropout", dtype=policy)(x)
    for index in range(config.num_layers):
        trainable = index >= config.freeze_layers
        x = CarriedLSTM(config.rnn_size, name=lstm_name(index), trainable=trainable, dtype=policy)(x)
        x = layers.Dropout(config.drop_rate, name=f"{lstm_name(index)}_dropout", dtype=policy)(x)
    logits = layers.Dense(config.vocab_size, name=OUTPUT, dtype="float32")(x)
    return keras.Model(ids, logits, name="char_rnn")


def lstm_layers(model: keras.Model) -> list[CarriedLSTM]:
    """The model's LSTM layers, lowest first."""
    return [layer for layer in model.layers if isinstance(layer, layers.LSTM)]


def lstm_name(index: int) -> str:
    return f"lstm_{index}"


def lstm_weights(layer: layers.LSTM) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(kernel, recurrent kernel, bias) of one LSTM layer, gates in Keras's order i, f, c, o."""
    kernel, recurrent, bias = (np.asarray(keras.ops.convert_to_numpy(w)) for w in layer.cell.weights)
    return kernel, recurrent, bias


def load_weights_only(model: keras.Model, path: Path) -> None:
    """Load a weights file's model weights into `model`, leaving its optimizer as it is: a training
    state's optimizer slots are not wanted for generating, and fine-tuning starts a fresh optimizer."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(path)


def make_optimizer(config: Config) -> keras.optimizers.Optimizer:
    optimizer = getattr(keras.optimizers, OPTIMIZERS[config.optimizer])
    return optimizer(learning_rate=config.learning_rate, clipnorm=config.clip_norm)


def optimizer_rule(config: Config) -> dict:
    """The constants of the update rule of `config`'s optimizer, read from Keras's own (rho, betas,
    epsilon, initial accumulator, momentum, ...: what its class adds to every optimizer's settings), and
    its name: what a twin of the rule (the page's fine-tuning) needs besides the rate and clipping."""
    settings = make_optimizer(config).get_config()
    every = set.intersection(*(set(getattr(keras.optimizers, name)().get_config()) for name in OPTIMIZERS.values()))
    return {"name": config.optimizer} | {key: value for key, value in settings.items() if key not in every}


def compile_model(model: keras.Model, config: Config) -> keras.Model:
    model.compile(optimizer=make_optimizer(config), loss=LOSS)
    return model


def reset_states(model: keras.Model) -> None:
    """Zero every LSTM's (h, c) (Keras 3 has no Model.reset_states)."""
    for layer in lstm_layers(model):
        layer.reset_state()
