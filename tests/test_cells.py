"""Each cell of the LSTM family against an independent NumPy version of its paper's equations."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt.cells import CELLS, CIFGCell, GRUCell, LSTMCell, PeepholeLSTMCell
from nmt.checkpoint import model_checkpoint
from nmt.config import ModelConfig
from nmt.model import build_model
from nmt.recurrent import run_recurrence

UNITS, DIM, BATCH, STEPS = 4, 3, 2, 6


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def blocks(matrix, count):
    return np.split(matrix, count, axis=-1)


def numpy_lstm(x, W, U, b, peep=None, coupled=False):
    """Gers et al. LSTM; with ``peep`` (p_i, p_f, p_o) Gers & Schmidhuber's peepholes;
    with ``coupled`` the CIFG variant whose input gate is 1 - f."""
    h = np.zeros((x.shape[0], UNITS))
    c = np.zeros_like(h)
    outputs = []
    for t in range(x.shape[1]):
        pre = x[:, t] @ W + h @ U + b
        if coupled:
            a_f, a_g, a_o = blocks(pre, 3)
            f = sigmoid(a_f)
            i = 1 - f
        else:
            a_i, a_f, a_g, a_o = blocks(pre, 4)
            p_i, p_f, _ = peep if peep is not None else (0, 0, 0)
            i, f = sigmoid(a_i + p_i * c), sigmoid(a_f + p_f * c)
        c = f * c + i * np.tanh(a_g)
        o = sigmoid(a_o + (peep[2] * c if peep is not None else 0))
        h = o * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, 1)


def numpy_gru(x, W, U, b):
    """Cho et al. (2014): reset gate applied to h before the candidate's recurrent matmul."""
    W_z, W_r, W_n = blocks(W, 3)
    U_z, U_r, U_n = blocks(U, 3)
    b_z, b_r, b_n = blocks(b, 3)
    h = np.zeros((x.shape[0], UNITS))
    outputs = []
    for t in range(x.shape[1]):
        z = sigmoid(x[:, t] @ W_z + h @ U_z + b_z)
        r = sigmoid(x[:, t] @ W_r + h @ U_r + b_r)
        n = np.tanh(x[:, t] @ W_n + (r * h) @ U_n + b_n)
        h = z * h + (1 - z) * n
        outputs.append(h)
    return np.stack(outputs, 1)


def randomized(cls, seed=0):
    cell = cls(UNITS, DIM)
    rng = np.random.default_rng(seed)
    for variable in cell.weights:
        variable.assign(rng.normal(0, 0.6, variable.shape).astype("float32"))
    return cell


def run(cell, x):
    outputs, _ = run_recurrence(cell, tf.constant(x), tf.ones(x.shape[:2], tf.bool))
    return outputs.numpy()


X = np.random.default_rng(42).normal(size=(BATCH, STEPS, DIM)).astype("float32")


def test_lstm_equations():
    cell = randomized(LSTMCell)
    W, U, b = (v.numpy() for v in (cell.kernel, cell.recurrent_kernel, cell.bias))
    np.testing.assert_allclose(run(cell, X), numpy_lstm(X, W, U, b), atol=1e-5)


def test_peephole_equations():
    cell = randomized(PeepholeLSTMCell)
    W, U, b = (v.numpy() for v in (cell.kernel, cell.recurrent_kernel, cell.bias))
    peep = tuple(v.numpy() for v in (cell.peephole_input, cell.peephole_forget, cell.peephole_output))
    expected = numpy_lstm(X, W, U, b, peep=peep)
    np.testing.assert_allclose(run(cell, X), expected, atol=1e-5)
    assert np.abs(expected - numpy_lstm(X, W, U, b)).max() > 1e-2, "peepholes must matter"


def test_cifg_equations_and_one_gate_fewer():
    cell = randomized(CIFGCell)
    W, U, b = (v.numpy() for v in (cell.kernel, cell.recurrent_kernel, cell.bias))
    np.testing.assert_allclose(run(cell, X), numpy_lstm(X, W, U, b, coupled=True), atol=1e-5)
    gate_params = (DIM + UNITS + 1) * UNITS
    assert LSTMCell(UNITS, DIM).count_params() - CIFGCell(UNITS, DIM).count_params() == gate_params


def test_gru_equations():
    cell = randomized(GRUCell)
    W, U, b = (v.numpy() for v in (cell.kernel, cell.recurrent_kernel, cell.bias))
    np.testing.assert_allclose(run(cell, X), numpy_gru(X, W, U, b), atol=1e-5)


@pytest.mark.parametrize("cls, keras_layer", [
    (LSTMCell, lambda: keras.layers.LSTM(UNITS, return_sequences=True)),
    (GRUCell, lambda: keras.layers.GRU(UNITS, return_sequences=True, reset_after=False)),
])
def test_same_as_keras_builtin_layers(cls, keras_layer):
    cell = randomized(cls)
    layer = keras_layer()
    layer.build((None, STEPS, DIM))
    layer.set_weights([w.numpy() for w in cell.weights])
    np.testing.assert_allclose(layer(X).numpy(), run(cell, X), atol=1e-5)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_cell_config_round_trip(name):
    cell = CELLS[name](UNITS, DIM, name="c")
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(cell))
    assert type(clone) is type(cell) and clone.units == UNITS and clone.input_dim == DIM


@pytest.mark.parametrize("name", sorted(CELLS))
def test_saved_and_reloaded_model_gives_identical_outputs(tmp_path, name):
    config = ModelConfig(cell=name, embedding_dim=8, encoder_layers=2, encoder_units=6,
                         decoder_layers=2, decoder_units=10, attention_units=8)
    model = build_model(20, 20, config)
    rng = np.random.default_rng(1)
    for variable in model.trainable_variables:
        variable.assign(rng.normal(0, 0.3, variable.shape).astype("float32"))
    path = model_checkpoint(model).write(str(tmp_path / "ckpt"))
    reloaded = build_model(20, 20, config)
    model_checkpoint(reloaded).read(path).assert_consumed()
    inputs = (tf.constant([[5, 6, 7, 3, 0]]), tf.constant([[2, 9, 8, 0]]))
    np.testing.assert_array_equal(model(inputs).numpy(), reloaded(inputs).numpy())


@pytest.mark.parametrize("encoder_cell, decoder_cell", [("gru", "lstm"), ("peephole", "gru")])
def test_encoder_and_decoder_cells_are_set_separately(encoder_cell, decoder_cell):
    config = ModelConfig(cell="lstm", encoder_cell=encoder_cell, decoder_cell=decoder_cell,
                         embedding_dim=8, encoder_units=6, decoder_units=10, attention_units=8)
    model = build_model(20, 20, config)
    assert all(type(c) is CELLS[encoder_cell] for c in model.encoder.forward_cells)
    assert all(type(c) is CELLS[decoder_cell] for c in model.decoder.cells)
    logits = model((tf.constant([[5, 6, 3]]), tf.constant([[2, 7]])))
    assert logits.shape == (1, 2, 20) and np.all(np.isfinite(logits.numpy()))
