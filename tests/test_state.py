"""The LSTM's (h, c) carry from batch to batch in fit, evaluate and predict, on JAX and on TensorFlow."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from twitterbot.config import Config
from twitterbot.corpus.batches import LaneBatches
from twitterbot.corpus.clean import CleanOptions
from twitterbot.corpus.datafolder import open_data
from twitterbot.corpus.prepare import prepare
from twitterbot.training.checkpoint import open_checkpoint
from twitterbot.training.evaluate import evaluate, evaluation_lanes
from twitterbot.training.model import LOSS, build_model, lstm_layers, lstm_weights, reset_states
from twitterbot.training.train import train


def numpy_lstm_losses(model, windows, carry=True):
    """Per-batch mean loss of the model's weights run by NumPy, the state carried across batches or not."""
    embedding = model.get_layer("embedding").get_weights()[0]
    kernel, recurrent, bias = (np.asarray(w) for w in lstm_layers(model)[0].cell.get_weights())
    dense, dense_bias = model.get_layer("next_char").get_weights()
    units = recurrent.shape[0]
    h = c = np.zeros((windows[0][0].shape[0], units))
    losses = []

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    for x, y in windows:
        if not carry:
            h = c = np.zeros_like(h)
        total = []
        for t in range(x.shape[1]):
            z = embedding[x[:, t]] @ kernel + h @ recurrent + bias
            i, f, g, o = np.split(z, 4, axis=-1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
            logits = h @ dense + dense_bias
            logits -= logits.max(axis=-1, keepdims=True)
            log_p = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
            total.append(-log_p[np.arange(len(y)), y[:, t]])
        losses.append(np.mean(total))
    return np.array(losses)


@pytest.fixture
def random_model():
    """A small model with weights large enough that the carried state changes every prediction."""
    config = Config(vocab_size=12, embedding_size=6, rnn_size=10, drop_rate=0.0, batch_size=3, seq_len=5)
    model = build_model(config, config.batch_size, config.seq_len)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.6, w.shape).astype("float32") for w in model.get_weights()])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss=LOSS)
    stream = np.random.default_rng(1).integers(0, 12, 3 * 5 * 8 + 1)
    return model, LaneBatches(stream, 3, 5)


@pytest.mark.both_backends
def test_loss_over_consecutive_batches_is_a_numpy_lstm_that_carries_state(random_model, keras_backend):
    model, batches = random_model
    assert keras.backend.backend() == keras_backend
    windows = [batches[i] for i in range(len(batches))]
    carried, dropped = numpy_lstm_losses(model, windows), numpy_lstm_losses(model, windows, carry=False)
    assert abs(carried.mean() - dropped.mean()) > 1e-2  # the state matters to this model

    reset_states(model)
    evaluated = model.evaluate(batches, verbose=0)
    assert evaluated == pytest.approx(carried.mean(), abs=1e-5)

    reset_states(model)
    fitted = model.fit(batches, epochs=1, shuffle=False, verbose=0).history["loss"][0]  # learning rate 0
    assert fitted == pytest.approx(carried.mean(), abs=1e-5)

    reset_states(model)
    predicted = model.predict(batches, verbose=0)  # batch i's rows, one after another
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(predicted)).reshape(len(windows), 3, 5, -1)
    targets = np.stack([y for _, y in windows])
    picked = np.take_along_axis(probabilities, targets[..., None], axis=-1)[..., 0]
    np.testing.assert_allclose(-np.log(picked).mean(axis=(1, 2)), carried, atol=1e-5)
    final_h = keras.ops.convert_to_numpy(lstm_layers(model)[0].states[0])
    assert np.abs(final_h).sum() > 0.1  # the state after the last batch is kept, not zeroed


def remember_the_letter(path, tweets=1500, seed=0):
    """Each tweet: a letter, 1–12 dots, the same letter again. Recalling it across a window boundary
    needs the state of the window before."""
    rng = np.random.default_rng(seed)
    lines = [f"{letter}{'.' * int(rng.integers(1, 13))}{letter}" for letter in rng.choice(list("abcd"), tweets)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.both_backends
def test_a_dependency_longer_than_a_window_is_learned_only_when_state_carries(tmp_path, keras_backend):
    letters = str(remember_the_letter(tmp_path / "letters.txt"))
    prepare([letters], tmp_path / "data", CleanOptions(dedupe=False), validate=0.2, coverage=1.0)
    config = Config(
        embedding_size=8,
        rnn_size=32,
        batch_size=8,
        seq_len=8,
        num_epochs=6,
        drop_rate=0.0,
        learning_rate=0.01,
        optimizer="adam",
        patience=6,
        seed=1,
    )
    train(tmp_path / "data", tmp_path / "ckpt", config)
    carried = evaluate(tmp_path / "ckpt", tmp_path / "data", "validate").loss

    ckpt, data = open_checkpoint(tmp_path / "ckpt"), open_data(tmp_path / "data")
    lanes = evaluation_lanes(data.lengths["validate"], config.batch_size)
    model = ckpt.load_model(lanes, config.seq_len)
    model.compile(loss=LOSS)
    batches = data.batches("validate", lanes, config.seq_len)

    class ResetEveryBatch(keras.callbacks.Callback):
        def on_test_batch_begin(self, batch, logs=None):
            reset_states(self.model)

    reset_states(model)
    assert model.evaluate(batches, verbose=0) == pytest.approx(carried, abs=1e-5)
    dropped = model.evaluate(batches, verbose=0, callbacks=[ResetEveryBatch()])
    # ~3 in 4 recalls cross a window boundary: ln 4 nats each without the state, ~0.11 nats/char in all
    assert dropped - carried > 0.05, (carried, dropped)


@pytest.mark.tensorflow
def test_evaluate_gives_the_same_loss_on_both_backends(data_folder, trained_checkpoint):
    losses = []
    for backend in ("jax", "tensorflow"):
        result = subprocess.run(
            [sys.executable, "-m", "twitterbot.cli", "evaluate", trained_checkpoint, data_folder, "--json"],
            env={**os.environ, "KERAS_BACKEND": backend},
            capture_output=True,
            text=True,
            check=True,
        )
        losses.append(json.loads(result.stdout)["loss"])
    assert losses[0] == pytest.approx(losses[1], abs=1e-4)


def test_checkpoints_written_before_the_carried_lstm_still_load(tmp_path):
    """Weight files name groups by layer class: a file of Keras's own LSTM must load into the model."""
    config = Config(vocab_size=12, embedding_size=6, rnn_size=10, num_layers=2, batch_size=1, seq_len=1)
    ids = keras.Input(batch_shape=(1, 1), dtype="int32")
    x = keras.layers.Embedding(12, 6, name="embedding")(ids)
    for index in range(2):
        x = keras.layers.LSTM(10, stateful=True, return_sequences=True, name=f"lstm_{index}")(x)
    old = keras.Model(ids, keras.layers.Dense(12, activation="softmax", name="next_char")(x))
    old.save_weights(tmp_path / "old.weights.h5")
    model = build_model(config, 1, 1)
    model.load_weights(tmp_path / "old.weights.h5")
    theirs = [w for layer in old.layers if isinstance(layer, keras.layers.LSTM) for w in layer.get_weights()]
    mine = [w for layer in lstm_layers(model) for w in lstm_weights(layer)]
    for a, b in zip(mine, theirs, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.get_layer("next_char").get_weights()[0], old.layers[-1].get_weights()[0])


@pytest.mark.parametrize("keras_backend", ["tensorflow"])
@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_tensorflows_unrolled_loop_trains_as_keras_own_loop(monkeypatch, keras_backend, precision):
    """On TensorFlow CarriedLSTM runs its own loop (one input product, the steps unrolled): the same
    losses, updates and carried state as Keras's LSTM loop, over consecutive batches."""
    from twitterbot.training import model as model_module

    config = Config(vocab_size=12, embedding_size=6, rnn_size=10, num_layers=2, drop_rate=0.0, batch_size=3)
    rng = np.random.default_rng(0)
    weights = [rng.normal(0, 0.6, w.shape).astype("float32") for w in build_model(config, 3, 5).get_weights()]
    windows = [(rng.integers(0, 12, (3, 5)), rng.integers(0, 12, (3, 5))) for _ in range(3)]
    runs = []
    for unroll in (model_module.MAX_UNROLL, 0):  # 0: every sequence is longer, Keras's own loop runs
        monkeypatch.setattr(model_module, "MAX_UNROLL", unroll)
        model = build_model(config, 3, 5, precision)
        model.set_weights(weights)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss=LOSS)
        losses = [float(model.train_on_batch(x, y)) for x, y in windows]
        states = [keras.ops.convert_to_numpy(s) for layer in lstm_layers(model) for s in layer.states]
        runs.append((losses, model.get_weights(), states))
    (losses, weights_after, states), (keras_losses, keras_weights, keras_states) = runs
    tolerance = 1e-5 if precision == "float32" else 1e-2  # bfloat16: 8 bits, a step of 0.0078 at 1
    np.testing.assert_allclose(losses, keras_losses, atol=tolerance)
    assert max(np.abs(a - b).max() for a, b in zip(weights_after, weights, strict=True)) > 0.01  # it trained
    for mine, theirs in zip([*weights_after, *states], [*keras_weights, *keras_states], strict=True):
        np.testing.assert_allclose(mine, theirs, atol=tolerance)
