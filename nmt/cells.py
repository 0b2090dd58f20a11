"""The LSTM family: standard LSTM, peephole LSTM, coupled input-forget gate (CIFG), GRU.

Every cell splits its update into two parts so the expensive one runs outside
the recurrence:

    project(x)            x W + b for all time steps at once (one matmul)
    step(projected, s)    the recurrent part for one time step

and exposes its gate activations for inspection.  States are tuples: (h, c)
for the LSTM variants, (h,) for the GRU; ``h`` always comes first and is the
cell's output.

Equations (sigma = logistic sigmoid, * = elementwise product):

lstm (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000)
    i = sigma(x W_i + h U_i + b_i)     f = sigma(x W_f + h U_f + b_f)
    g = tanh(x W_g + h U_g + b_g)      o = sigma(x W_o + h U_o + b_o)
    c' = f * c + i * g                 h' = o * tanh(c')

peephole (Gers & Schmidhuber 2000): the gates also see the cell state through
diagonal weights; input and forget gates see c, the output gate sees c'
    i = sigma(x W_i + h U_i + p_i * c + b_i)    f = sigma(x W_f + h U_f + p_f * c + b_f)
    o = sigma(x W_o + h U_o + p_o * c' + b_o)

cifg (coupled input and forget gate; Greff et al. 2017): one gate fewer
    f = sigma(x W_f + h U_f + b_f)     i = 1 - f

gru (Cho et al. 2014)
    z = sigma(x W_z + h U_z + b_z)     r = sigma(x W_r + h U_r + b_r)
    n = tanh(x W_n + (r * h) U_n + b_n)
    h' = z * h + (1 - z) * n

Weight layouts match Keras' ``LSTM`` (gates i, f, g, o) and ``GRU`` with
``reset_after=False`` (gates z, r, n), so the tests can compare against them.
"""

from __future__ import annotations

import keras
import tensorflow as tf


class RecurrentCell(keras.layers.Layer):
    """Shared plumbing: weights created up front from (units, input_dim), gates per block."""

    gates: tuple[str, ...] = ()
    state_names: tuple[str, ...] = ("h",)

    def __init__(self, units: int, input_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.input_dim = input_dim
        blocks = len(self.gates)
        self.kernel = self.add_weight(shape=(input_dim, blocks * units), name="kernel",
                                      initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight(shape=(units, blocks * units),
                                                name="recurrent_kernel", initializer="orthogonal")
        self.bias = self.add_weight(shape=(blocks * units,), name="bias",
                                    initializer=self._bias_initializer)
        self.built = True

    def _bias_initializer(self, shape, dtype=None):
        """Zeros, except a forget-gate bias of 1 so gradients flow through time early on."""
        blocks = [tf.ones([self.units]) if gate == "f" else tf.zeros([self.units])
                  for gate in self.gates]
        return tf.concat(blocks, 0)

    def project(self, inputs: tf.Tensor) -> tf.Tensor:
        """Input-to-gate pre-activations ``x W + b`` for any leading shape."""
        return tf.tensordot(inputs, self.cast(self.kernel), axes=1) + self.cast(self.bias)

    def cast(self, weight) -> tf.Tensor:
        """A weight in the compute dtype: bfloat16 under ``train.precision: bfloat16`` (weights
        stay float32), unchanged in float32.  Needed because search calls ``step`` directly,
        outside Keras' automatic casting in ``__call__``."""
        return tf.cast(weight, self.compute_dtype)

    def zero_state(self, batch_size) -> tuple[tf.Tensor, ...]:
        zeros = tf.zeros([batch_size, self.units], dtype=self.compute_dtype)
        return tuple(zeros for _ in self.state_names)

    def step(self, projected, state):
        """One time step; returns ``(h', new_state)``."""
        new_state, _ = self.step_with_gates(projected, state)
        return new_state[0], new_state

    def step_with_gates(self, projected, state):
        """One time step; returns ``(new_state, {gate name: activation})``."""
        raise NotImplementedError

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "input_dim": self.input_dim}


@keras.saving.register_keras_serializable(package="nmt")
class LSTMCell(RecurrentCell):
    """Standard LSTM with a forget gate."""

    gates = ("i", "f", "g", "o")
    state_names = ("h", "c")

    def step_with_gates(self, projected, state):
        h, c = state
        z_i, z_f, z_g, z_o = tf.split(projected + tf.matmul(h, self.cast(self.recurrent_kernel)), 4, axis=-1)
        i, f, o = tf.sigmoid(z_i), tf.sigmoid(z_f), tf.sigmoid(z_o)
        c = f * c + i * tf.tanh(z_g)
        return (o * tf.tanh(c), c), {"input": i, "forget": f, "output": o}


@keras.saving.register_keras_serializable(package="nmt")
class PeepholeLSTMCell(RecurrentCell):
    """LSTM whose gates look at the cell state through diagonal ("peephole") weights."""

    gates = ("i", "f", "g", "o")
    state_names = ("h", "c")

    def __init__(self, units: int, input_dim: int, **kwargs):
        super().__init__(units, input_dim, **kwargs)
        self.peephole_input = self.add_weight(shape=(units,), name="peephole_input",
                                              initializer="zeros")
        self.peephole_forget = self.add_weight(shape=(units,), name="peephole_forget",
                                               initializer="zeros")
        self.peephole_output = self.add_weight(shape=(units,), name="peephole_output",
                                               initializer="zeros")

    def step_with_gates(self, projected, state):
        h, c = state
        z_i, z_f, z_g, z_o = tf.split(projected + tf.matmul(h, self.cast(self.recurrent_kernel)), 4, axis=-1)
        i = tf.sigmoid(z_i + self.cast(self.peephole_input) * c)
        f = tf.sigmoid(z_f + self.cast(self.peephole_forget) * c)
        c = f * c + i * tf.tanh(z_g)
        o = tf.sigmoid(z_o + self.cast(self.peephole_output) * c)
        return (o * tf.tanh(c), c), {"input": i, "forget": f, "output": o}


@keras.saving.register_keras_serializable(package="nmt")
class CIFGCell(RecurrentCell):
    """LSTM with the input gate coupled to the forget gate (i = 1 - f)."""

    gates = ("f", "g", "o")
    state_names = ("h", "c")

    def step_with_gates(self, projected, state):
        h, c = state
        z_f, z_g, z_o = tf.split(projected + tf.matmul(h, self.cast(self.recurrent_kernel)), 3, axis=-1)
        f, o = tf.sigmoid(z_f), tf.sigmoid(z_o)
        c = f * c + (1.0 - f) * tf.tanh(z_g)
        return (o * tf.tanh(c), c), {"input": 1.0 - f, "forget": f, "output": o}


@keras.saving.register_keras_serializable(package="nmt")
class GRUCell(RecurrentCell):
    """Gated recurrent unit, with the reset gate applied before the recurrent matmul."""

    gates = ("z", "r", "n")
    state_names = ("h",)

    def step_with_gates(self, projected, state):
        (h,) = state
        split = 2 * self.units
        gates = tf.sigmoid(projected[..., :split] + tf.matmul(h, self.cast(self.recurrent_kernel[:, :split])))
        z, r = tf.split(gates, 2, axis=-1)
        n = tf.tanh(projected[..., split:] + tf.matmul(r * h, self.cast(self.recurrent_kernel[:, split:])))
        return (z * h + (1.0 - z) * n,), {"update": z, "reset": r}


CELLS = {"lstm": LSTMCell, "peephole": PeepholeLSTMCell, "cifg": CIFGCell, "gru": GRUCell}


def make_cell(kind: str, units: int, input_dim: int, name: str) -> RecurrentCell:
    return CELLS[kind](units, input_dim, name=name)
