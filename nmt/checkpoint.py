"""TensorFlow checkpoints keyed by Keras variable paths.

``tf.train.Checkpoint(model=keras_model)`` does not see layers that a Keras 3
model keeps in Python lists (such as our stacks of cells), so their weights would
silently be left out.  Keying every variable by its unique Keras path instead
saves all of them, and a restore checks that each one is there.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import tensorflow as tf

from nmt.errors import NmtError, first_line
from nmt.run import Run


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


class RunCheckpoints:
    """A training run's checkpoints: the newest few of everything needed to resume (model,
    optimizer, loop counters) and the best model on dev.

    Every worker takes part in a save; only the chief's land in the run directory, the other
    workers write to a scratch directory of their own."""

    def __init__(self, run: Run, model, optimizer, counters: dict[str, object], chief: bool, keep: int):
        self.run, self.model = run, model
        self.state = training_checkpoint(model, optimizer, **counters)
        self._scratch = None if chief else tempfile.TemporaryDirectory(prefix="nmt-worker-")
        self.latest = tf.train.CheckpointManager(
            self.state, str(run.checkpoints if chief else Path(self._scratch.name, "ckpt")), max_to_keep=keep)
        self.best = tf.train.CheckpointManager(
            model_checkpoint(model), str(run.best if chief else Path(self._scratch.name, "best")), max_to_keep=1)

    def restore_latest(self) -> bool:
        """Continue from the chief's latest checkpoint (every worker reads the same one);
        False when there is none yet."""
        latest = tf.train.latest_checkpoint(str(self.run.checkpoints))
        if latest is None:
            return False
        try:
            self.state.restore(latest).assert_consumed()
        except (ValueError, AssertionError, IndexError, tf.errors.OpError) as error:
            raise NmtError(f"{latest}: checkpoint does not fit the model in "
                           f"{self.run.directory / 'config.yaml'} ({first_line(error)})") from None
        return True

    def start_from(self, path: str) -> None:
        """Load the model weights of checkpoint ``path`` (``train.init_from``'s); the optimizer,
        step counter and budget start afresh."""
        weights = {key: variable for key, variable in by_path(self.model.variables).items()
                   if not key.startswith("seed_generator")}  # dropout states are not weights
        try:
            tf.train.Checkpoint(model=weights).restore(path).assert_existing_objects_matched().expect_partial()
        except (ValueError, AssertionError, IndexError, tf.errors.OpError) as error:
            raise NmtError(f"train.init_from: {path} does not fit the model of this config "
                           f"({first_line(error)})") from None

    def save(self, step: int) -> None:
        """Write a checkpoint; TensorFlow writes it under a temporary name and updates the
        ``checkpoint`` index last, so a failed or killed save leaves the previous one current."""
        try:
            self.latest.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as error:
            raise NmtError(f"{self.run.checkpoints}: cannot write a checkpoint at step {step} "
                           f"({first_line(error)}); the previous checkpoint "
                           f"({self.latest.latest_checkpoint or 'none'}) is intact") from None

    def save_best(self, step: int) -> None:
        self.best.save(checkpoint_number=step)
