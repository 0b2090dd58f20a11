"""Checkpoint averaging: the element-wise mean of the weights of the last N training checkpoints.

Averaging the final checkpoints of a run smooths out the noise of the last
updates and usually gains a little BLEU at no training cost.  The result is a
model-only checkpoint in ``<run>/averaged/``, used by ``--weights averaged``.
"""

from __future__ import annotations

import sys

import numpy as np
import tensorflow as tf

from nmt.checkpoint import model_checkpoint
from nmt.errors import NmtError, first_line
from nmt.model import build_model
from nmt.run import Run
from nmt.weights import restore_model


def last_checkpoints(run: Run, count: int) -> list[str]:
    """Paths of the newest ``count`` training checkpoints, oldest first."""
    if count < 1:
        raise NmtError(f"--last: expected a positive number of checkpoints, got {count}")
    state = tf.train.get_checkpoint_state(str(run.checkpoints))
    paths = list(state.all_model_checkpoint_paths) if state else []
    if len(paths) < count:
        raise NmtError(f"{run.checkpoints}: asked to average the last {count} checkpoints but "
                       f"there {'is' if len(paths) == 1 else 'are'} {len(paths)} "
                       f"(train.keep_checkpoints sets how many are kept)")
    return paths[-count:]


def average_checkpoints(run: Run, count: int) -> str:
    """Write the mean of the last ``count`` checkpoints to ``run.averaged``; return its path.

    Floating-point weights are averaged; integer state (dropout seeds) is taken
    from the newest checkpoint.
    """
    paths = last_checkpoints(run, count)
    model = build_model(run.src_vocab.size, run.tgt_vocab.size, run.config.model)
    checkpoint = model_checkpoint(model)
    sums = [np.zeros(v.shape, np.float64) for v in model.variables]
    for path in paths:
        restore_model(run, checkpoint, path)
        for total, variable in zip(sums, model.variables):
            total += variable.numpy()
    for total, variable in zip(sums, model.variables):
        newest = variable.numpy()
        if np.issubdtype(newest.dtype, np.floating):
            variable.assign((total / count).astype(newest.dtype))
    step = int(paths[-1].rsplit("-", 1)[1])
    manager = tf.train.CheckpointManager(checkpoint, str(run.averaged), max_to_keep=1)
    try:
        saved = manager.save(checkpoint_number=step)
    except (OSError, tf.errors.OpError) as error:
        raise NmtError(f"{run.averaged}: cannot write the averaged checkpoint "
                       f"({first_line(error)})") from None
    names = ", ".join(path.rsplit("/", 1)[1] for path in paths)
    print(f"averaged {names} into {saved}", file=sys.stderr)
    return saved
