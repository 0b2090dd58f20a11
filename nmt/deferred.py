"""Weight gradients of a recurrence as one matrix product after its loop.

Backpropagation through a ``tf.scan`` adds, at every time step, the gradient of
each weight matrix used inside the step: ``x_t^T dz_t``, a product whose inner
size is only the batch (64 rows, say).  There is one such thin product per
step and weight, and they run far below the CPU's matmul rate.  Their sum over
all steps is a single product ``X^T dZ`` whose inner size is batch * time.

A recurrent cell's gate pre-activations are ``z_t = p_t + h_{t-1} U``, where the
input part ``p`` is a tensor fed into the loop, so the gradient of ``p`` is
``dZ`` itself.  Inside ``deferring()``, a loop uses its weight matrices with
their gradient stopped and records ``(weight, X, p)``; ``gradients`` asks the
tape for the gradient of every recorded ``p`` together with the variables' and
adds ``X^T dp`` to each weight's.  It is the same sum in another order:
tests/test_reference.py compares it with plain backpropagation.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field

import tensorflow as tf

_state = threading.local()  # replicas of tf.distribute trace their steps in threads of their own


@dataclass
class Recorder:
    """The weights whose loop gradients are left for ``gradients``: (variable, first row,
    inputs [time, batch, rows], pre-activations [time, batch, columns])."""

    tape: tf.GradientTape
    entries: list = field(default_factory=list)

    def probe(self, shape, dtype) -> tf.Tensor:
        """Zeros to add to pre-activations that no loop input carries: their gradient is dZ."""
        zeros = tf.zeros(shape, dtype)
        self.tape.watch(zeros)
        return zeros

    def record(self, variable, inputs: tf.Tensor, preactivations: tf.Tensor, first_row: int = 0) -> None:
        self.entries.append((variable, first_row, inputs, preactivations))


@contextlib.contextmanager
def deferring(tape: tf.GradientTape):
    """Within this block, recurrences defer their weight gradients to the returned recorder."""
    recorder, previous = Recorder(tape), getattr(_state, "recorder", None)
    _state.recorder = recorder
    try:
        yield recorder
    finally:
        _state.recorder = previous


def active_recorder() -> Recorder | None:
    return getattr(_state, "recorder", None)


def stop_if_deferred(weight: tf.Tensor) -> tf.Tensor:
    """``weight`` as used inside a loop: without a gradient while deferring."""
    return tf.stop_gradient(weight) if active_recorder() is not None else weight


def gradients(tape: tf.GradientTape, loss: tf.Tensor, variables: list, recorder: Recorder) -> list:
    """Gradients of ``loss`` for ``variables``, with the deferred loop parts added."""
    targets = [preactivations for *_, preactivations in recorder.entries]
    computed = tape.gradient(loss, list(variables) + targets)
    result = computed[:len(variables)]
    position = {id(variable): index for index, variable in enumerate(variables)}
    for (variable, first_row, inputs, _), delta in zip(recorder.entries, computed[len(variables):]):
        part = tf.tensordot(tf.cast(inputs, tf.float32), tf.cast(delta, tf.float32), [[0, 1], [0, 1]])
        rows = variable.shape[0]
        part = tf.pad(part, [[first_row, rows - first_row - part.shape[0]], [0, 0]])
        index = position[id(variable)]
        result[index] = part if result[index] is None else result[index] + part
    return result
