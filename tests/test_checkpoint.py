"""Checkpoints hold every variable of the model; restoring gives identical outputs."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nmt.checkpoint import model_checkpoint
from nmt.config import ModelConfig
from nmt.model import build_model

CONFIG = ModelConfig(embedding_dim=8, encoder_layers=2, encoder_units=8, decoder_layers=2,
                     decoder_units=12, attention_units=10, dropout=0.1)


def test_every_variable_round_trips(tmp_path):
    model = build_model(30, 40, CONFIG)
    rng = np.random.default_rng(0)
    for variable in model.trainable_variables:
        variable.assign(rng.normal(size=variable.shape).astype("float32"))
    path = model_checkpoint(model).write(str(tmp_path / "ckpt"))
    saved = {name for name, _ in tf.train.list_variables(path)}
    assert len([n for n in saved if n.startswith("model/")]) == len(model.variables)

    fresh = build_model(30, 40, CONFIG)
    model_checkpoint(fresh).read(path).assert_consumed()
    for old, new in zip(model.variables, fresh.variables):
        np.testing.assert_array_equal(old.numpy(), new.numpy(), err_msg=old.path)
    source = tf.constant([[5, 6, 7, 3]])
    target = tf.constant([[2, 8, 9]])
    np.testing.assert_array_equal(model((source, target)).numpy(), fresh((source, target)).numpy())


def test_restoring_into_a_different_model_fails(tmp_path):
    path = model_checkpoint(build_model(30, 40, CONFIG)).write(str(tmp_path / "ckpt"))
    other = build_model(30, 41, CONFIG)
    with pytest.raises(ValueError):
        model_checkpoint(other).read(path).assert_consumed()
