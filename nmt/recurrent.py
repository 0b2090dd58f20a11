"""LSTM cell and the loop that runs it over a padded batch of sequences.

The cell splits the classic LSTM update into two parts so that the expensive
one runs outside the recurrence:

    project:  x_t W + b                      (one matmul for all time steps)
    step:     z = x_t W + b + h_{t-1} U
              i, f, g, o = sigmoid(z_i), sigmoid(z_f), tanh(z_g), sigmoid(z_o)
              c_t = f * c_{t-1} + i * g
              h_t = o * tanh(c_t)

Gate order (i, f, g, o) and weight layout match ``keras.layers.LSTM``, so the
tests can check this cell against Keras' own implementation.
"""

from __future__ import annotations

import keras
import tensorflow as tf


class LSTMCell(keras.layers.Layer):
    """A standard LSTM cell with a forget gate (Hochreiter & Schmidhuber; Gers et al.)."""

    def __init__(self, units: int, input_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.input_dim = input_dim
        self.kernel = self.add_weight(shape=(input_dim, 4 * units), name="kernel",
                                      initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight(shape=(units, 4 * units), name="recurrent_kernel",
                                                initializer="orthogonal")
        # A forget-gate bias of 1 lets gradients flow through time early in training.
        self.bias = self.add_weight(shape=(4 * units,), name="bias",
                                    initializer=_forget_bias_initializer(units))
        self.built = True

    def project(self, inputs: tf.Tensor) -> tf.Tensor:
        """Input-to-gate pre-activations ``x W + b`` for any leading shape."""
        return tf.tensordot(inputs, self.kernel, axes=1) + self.bias

    def zero_state(self, batch_size: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        zeros = tf.zeros([batch_size, self.units], dtype=self.compute_dtype)
        return zeros, zeros

    def step(self, projected: tf.Tensor, state: tuple[tf.Tensor, tf.Tensor]):
        """One time step from projected inputs; returns ``(h_t, (h_t, c_t))``."""
        h_prev, c_prev = state
        z = projected + tf.matmul(h_prev, self.recurrent_kernel)
        z_i, z_f, z_g, z_o = tf.split(z, 4, axis=-1)
        c = tf.sigmoid(z_f) * c_prev + tf.sigmoid(z_i) * tf.tanh(z_g)
        h = tf.sigmoid(z_o) * tf.tanh(c)
        return h, (h, c)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "input_dim": self.input_dim}


def _forget_bias_initializer(units: int):
    def initializer(shape, dtype=None):
        return tf.concat([tf.zeros([units]), tf.ones([units]), tf.zeros([2 * units])], 0)
    return initializer


def run_recurrence(cell: LSTMCell, inputs: tf.Tensor, mask: tf.Tensor,
                   initial_state=None, reverse: bool = False):
    """Run ``cell`` over ``inputs`` [batch, time, dim] with a padding ``mask``.

    Padding must sit at the end of each row.  Padded steps carry the state
    unchanged, so the returned final state is the one after each row's last real
    token.  With ``reverse`` each row is read backwards within its own length.
    Returns ``(outputs [batch, time, units], final_state)``.
    """
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    projected = cell.project(inputs)
    if reverse:
        projected = tf.reverse_sequence(projected, lengths, seq_axis=1, batch_axis=0)
    if initial_state is None:
        initial_state = cell.zero_state(tf.shape(inputs)[0])
    time_major = tf.transpose(projected, [1, 0, 2])
    step_mask = tf.transpose(mask)[:, :, None]

    def body(state, elements):
        projected_t, mask_t = elements
        _, new_state = cell.step(projected_t, state)
        return tuple(tf.where(mask_t, new, old) for new, old in zip(new_state, state))

    states = tf.scan(body, (time_major, step_mask), initializer=tuple(initial_state))
    outputs = tf.transpose(states[0], [1, 0, 2])
    if reverse:
        outputs = tf.reverse_sequence(outputs, lengths, seq_axis=1, batch_axis=0)
    final_state = tuple(s[-1] for s in states)
    return outputs, final_state
