"""TensorFlow checkpoints keyed by Keras variable paths.

``tf.train.Checkpoint(model=keras_model)`` does not see layers that a Keras 3
model keeps in Python lists (such as our stacks of cells), so their weights would
silently be left out.  Keying every variable by its unique Keras path instead
saves all of them, and a restore checks that each one is there.
"""

from __future__ import annotations

import re

import tensorflow as tf


def by_path(variables) -> dict[str, tf.Variable]:
    """``{stable path: variable}``, failing on duplicates rather than saving ambiguously.

    Keras names dropout seed generators globally (``seed_generator_7``), so the
    second model built in a process would get other names; they are keyed by
    their order within the model instead.
    """
    mapping = {}
    seeds = 0
    for variable in variables:
        path = variable.path
        if re.match(r"seed_generator(_\d+)?/", path):
            path, seeds = f"seed_generator_state_{seeds}", seeds + 1
        if path in mapping:
            raise ValueError(f"two variables share the path {path!r}")
        mapping[path] = variable
    return mapping


def model_checkpoint(model) -> tf.train.Checkpoint:
    """All model variables, including dropout seed states."""
    return tf.train.Checkpoint(model=by_path(model.variables))


def training_checkpoint(model, optimizer, **counters: tf.Variable) -> tf.train.Checkpoint:
    """Model, optimizer slots and loop counters: everything needed to resume exactly."""
    return tf.train.Checkpoint(model=by_path(model.variables),
                               optimizer=by_path(optimizer.variables), **counters)
