"""The LSTM cell, the masked recurrence and attention, against independent references."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt.attention import Attention
from nmt.cells import LSTMCell
from nmt.errors import NmtError
from nmt.recurrent import run_recurrence


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def numpy_lstm(x, kernel, recurrent, bias):
    """The textbook LSTM equations (gate order i, f, g, o) over [batch, time, dim]."""
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units))
    c = np.zeros((x.shape[0], units))
    outputs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = (z[:, k * units:(k + 1) * units] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, 1), h, c


def random_cell(units=5, dim=3, seed=0):
    cell = LSTMCell(units, dim)
    rng = np.random.default_rng(seed)
    for variable in cell.weights:
        variable.assign(rng.normal(0, 0.5, variable.shape).astype("float32"))
    return cell


def test_lstm_matches_numpy_equations_and_keras_lstm():
    cell = random_cell()
    x = np.random.default_rng(1).normal(size=(2, 6, 3)).astype("float32")
    outputs, (h, c) = run_recurrence(cell, tf.constant(x), tf.ones([2, 6], tf.bool))
    ref_out, ref_h, ref_c = numpy_lstm(x, *(w.numpy() for w in cell.weights))
    np.testing.assert_allclose(outputs.numpy(), ref_out, atol=1e-5)
    np.testing.assert_allclose(h.numpy(), ref_h, atol=1e-5)
    np.testing.assert_allclose(c.numpy(), ref_c, atol=1e-5)
    keras_lstm = keras.layers.LSTM(5, return_sequences=True)
    keras_lstm.build((None, 6, 3))
    keras_lstm.set_weights([w.numpy() for w in cell.weights])
    np.testing.assert_allclose(keras_lstm(x).numpy(), outputs.numpy(), atol=1e-5)


def test_padding_does_not_change_states_and_reverse_reads_within_length():
    cell = random_cell()
    x = np.random.default_rng(2).normal(size=(1, 4, 3)).astype("float32")
    padded = np.concatenate([x, np.full((1, 3, 3), 9.0, "float32")], axis=1)
    mask = tf.constant([[True] * 4 + [False] * 3])
    out_short, state_short = run_recurrence(cell, tf.constant(x), tf.ones([1, 4], tf.bool))
    out_pad, state_pad = run_recurrence(cell, tf.constant(padded), mask)
    np.testing.assert_allclose(out_pad.numpy()[:, :4], out_short.numpy(), atol=1e-6)
    np.testing.assert_allclose(state_pad[0].numpy(), state_short[0].numpy(), atol=1e-6)
    back_pad, back_state = run_recurrence(cell, tf.constant(padded), mask, reverse=True)
    ref_out, ref_h, _ = numpy_lstm(x[:, ::-1], *(w.numpy() for w in cell.weights))
    np.testing.assert_allclose(back_pad.numpy()[:, :4], ref_out[:, ::-1], atol=1e-5)
    np.testing.assert_allclose(back_state[0].numpy(), ref_h, atol=1e-5)


def test_forget_gate_bias_starts_at_one():
    cell = LSTMCell(4, 2)
    np.testing.assert_array_equal(cell.bias.numpy(), [0] * 4 + [1] * 4 + [0] * 8)


def numpy_scores(attention, queries, memory):
    """The score functions written out in NumPy from the layer's weights."""
    if attention.kind == "luong_dot":
        return queries @ memory.T
    if attention.kind == "luong_general":
        return queries @ (memory @ attention.memory_projection.kernel.numpy()).T
    q = queries @ attention.query_projection.kernel.numpy()
    s = memory @ attention.memory_projection.kernel.numpy()
    return np.tanh(q[:, None, :] + s[None, :, :]) @ attention.score_vector.kernel.numpy()[:, 0]


@pytest.mark.parametrize("kind", ["luong_dot", "luong_general", "luong_concat", "bahdanau"])
def test_attention_scores_and_padding_mask(kind):
    attention = Attention(kind, query_dim=6, memory_dim=6, units=5)
    rng = np.random.default_rng(3)
    memory = rng.normal(size=(1, 5, 6)).astype("float32")
    queries = rng.normal(size=(1, 2, 6)).astype("float32")
    mask = tf.constant([[True, True, True, False, False]])
    context, weights = attention(queries, attention.keys(memory), memory, mask)
    np.testing.assert_allclose(weights.numpy()[0, :, 3:], 0.0, atol=1e-7)
    garbage = memory.copy()
    garbage[:, 3:] = 100.0
    context2, _ = attention(queries, attention.keys(garbage), garbage, mask)
    np.testing.assert_allclose(context.numpy(), context2.numpy(), atol=1e-5)
    scores = numpy_scores(attention, queries[0], memory[0, :3])
    expected = np.exp(scores - scores.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(weights.numpy()[0, :, :3], expected, atol=1e-5)
    np.testing.assert_allclose(context.numpy()[0], expected @ memory[0, :3], atol=1e-5)


def test_luong_dot_with_unequal_sizes_is_a_config_error():
    with pytest.raises(NmtError, match="luong_dot needs decoder_units"):
        Attention("luong_dot", query_dim=6, memory_dim=8, units=5)


def test_word_dropout_zeroes_whole_tokens_in_training_only():
    from nmt.model import word_dropout

    keras.utils.set_random_seed(3)
    layer = word_dropout(0.5)
    embedded = tf.ones([4, 50, 8])
    dropped = layer(embedded, training=True).numpy()
    per_token = dropped.reshape(-1, 8)
    zeroed = (per_token == 0).all(axis=1)
    assert ((per_token == 0) == zeroed[:, None]).all()  # a token loses all its features or none
    assert np.allclose(per_token[~zeroed], 2.0)  # the kept ones are rescaled by 1 / (1 - rate)
    assert 0.35 < zeroed.mean() < 0.65
    assert np.array_equal(layer(embedded, training=False).numpy(), embedded.numpy())
