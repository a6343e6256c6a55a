"""The Keras 3 model: Embedding → Dropout → N × stateful LSTM (+ Dropout) → Dense softmax.

Backend-neutral (no TensorFlow calls), so the same code trains on TensorFlow and on JAX.
"""

from __future__ import annotations

import keras
from keras import layers

from .config import Config


def build_model(config: Config, batch_size: int, seq_len: int | None = None) -> keras.Model:
    """A model with a fixed batch size (stateful RNNs need one); seq_len None takes any length."""
    ids = keras.Input(batch_shape=(batch_size, seq_len), dtype="int32", name="ids")
    x = layers.Embedding(
        config.vocab_size, config.embedding_size, name="embedding", trainable=not config.freeze_embedding
    )(ids)
    x = layers.Dropout(config.drop_rate, name="embedding_dropout")(x)
    for index in range(config.num_layers):
        x = layers.LSTM(
            config.rnn_size,
            return_sequences=True,
            stateful=True,
            name=f"lstm_{index}",
            trainable=index >= config.freeze_layers,
        )(x)
        x = layers.Dropout(config.drop_rate, name=f"lstm_{index}_dropout")(x)
    probabilities = layers.Dense(config.vocab_size, activation="softmax", name="next_char")(x)
    return keras.Model(ids, probabilities, name="char_rnn")


def make_optimizer(config: Config) -> keras.optimizers.Optimizer:
    optimizers = {
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
        "adagrad": keras.optimizers.Adagrad,
        "adadelta": keras.optimizers.Adadelta,
        "adam": keras.optimizers.Adam,
    }
    return optimizers[config.optimizer](learning_rate=config.learning_rate, clipnorm=config.clip_norm)


def compile_model(model: keras.Model, config: Config) -> keras.Model:
    model.compile(optimizer=make_optimizer(config), loss="sparse_categorical_crossentropy")
    return model


def reset_states(model: keras.Model) -> None:
    """Zero every stateful layer's state (Keras 3 has no Model.reset_states)."""
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()
