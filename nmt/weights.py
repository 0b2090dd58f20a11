"""Which checkpoint of a run to translate with, and the model restored from it.

Translation, serving, export, averaging, evaluation and training's final test all load
weights through here, so "best", "latest" and "averaged" mean the same everywhere.
"""

from __future__ import annotations

import re
from pathlib import Path

from nmt.errors import NmtError, first_line
from nmt.run import Run

WEIGHTS = ("best", "latest", "averaged")


def latest_checkpoint(directory: Path) -> str | None:
    """The newest checkpoint named in ``directory``'s ``checkpoint`` file, as
    ``tf.train.latest_checkpoint`` finds it, but without importing TensorFlow."""
    try:
        text = (directory / "checkpoint").read_text(encoding="utf-8")
    except OSError:
        return None
    found = re.search(r'^model_checkpoint_path: "(.*)"$', text, re.MULTILINE)
    if not found:
        return None
    path = directory / found.group(1)  # an absolute path stays as it is
    return str(path) if Path(f"{path}.index").is_file() else None


def weights_path(run: Run, weights: str = "best") -> str:
    """The checkpoint to translate with: the best on dev (else the latest training
    checkpoint), the latest training checkpoint, or the output of ``nmt average``."""
    if weights == "averaged":
        path = latest_checkpoint(run.averaged)
        if path is None:
            raise NmtError(f"{run.averaged}: no averaged checkpoint; run `nmt average` first")
        return path
    best = latest_checkpoint(run.best) if weights == "best" else None
    path = best or latest_checkpoint(run.checkpoints)
    if path is None:
        raise NmtError(f"{run.directory}: no checkpoint yet; run `make train` first")
    return path


def load_model(run: Run, weights: str = "best"):
    """The run's model with the chosen checkpoint (see ``weights_path``) restored, computing
    in float32 whatever ``train.precision`` was: the weights are float32 either way, so a
    run trained in bfloat16 translates the same on every CPU, and the quick start (nmt.quick)
    serves it too."""
    from nmt.checkpoint import model_checkpoint
    from nmt.model import build_model

    model = build_model(run.src_vocab.size, run.tgt_vocab.size, run.config.model)
    restore_model(run, model_checkpoint(model), weights_path(run, weights))
    return model


def restore_model(run: Run, checkpoint, path: str) -> None:
    """Restore every model variable from ``path`` (a training checkpoint's optimizer slots are
    not needed), or fail in one line naming the checkpoint and the run's config."""
    import tensorflow as tf

    try:
        checkpoint.restore(path).assert_existing_objects_matched().expect_partial()
    except (ValueError, AssertionError, IndexError, tf.errors.OpError) as error:  # IndexError: torn file
        raise NmtError(f"{path}: checkpoint does not fit the model in "
                       f"{run.directory / 'config.yaml'} and its tokenizer ({first_line(error)})") from None
