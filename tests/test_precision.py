"""train.precision: bfloat16 computes in bfloat16 on float32 weights, and still learns and decodes."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_search import REVERSER, reverse_batch, strip, train_to_reverse

from nmt.checkpoint import model_checkpoint
from nmt.config import ModelConfig, SearchSettings
from nmt.model import build_model
from nmt.search import Translator

pytestmark = pytest.mark.slow  # trains several models or processes: left out by make test-fast

CONFIG = ModelConfig(embedding_dim=32, encoder_layers=2, encoder_units=32, decoder_layers=2,
                     decoder_units=64, attention_units=64, dropout=0.0, input_feeding=True,
                     attention="luong_concat", cell="peephole")


@pytest.fixture(autouse=True)
def float32_afterwards():
    yield
    keras.mixed_precision.set_dtype_policy("float32")  # the policy is global; leave it as found


def test_bfloat16_model_matches_float32_on_the_same_weights(tmp_path):
    reference = build_model(14, 14, CONFIG)
    path = model_checkpoint(reference).write(str(tmp_path / "ckpt"))
    mixed = build_model(14, 14, CONFIG, precision="bfloat16")
    model_checkpoint(mixed).read(path).assert_consumed()
    assert all(v.dtype == "float32" for v in mixed.variables)  # checkpoints interchangeable
    source, target_in, _, _ = reverse_batch(np.random.default_rng(0), 8)
    expected = reference((source, target_in)).numpy()
    actual = mixed((source, target_in))
    assert actual.dtype == tf.bfloat16
    np.testing.assert_allclose(tf.cast(actual, tf.float32).numpy(), expected,
                               atol=0.05 * np.abs(expected).max())


def test_bfloat16_model_learns_to_reverse_and_decodes():
    keras.utils.set_random_seed(0)
    model = build_model(14, 14, REVERSER, precision="bfloat16")
    losses = train_to_reverse(model)
    assert losses[-1] < 0.15 * losses[0]
    sources, _, _, rows = reverse_batch(np.random.default_rng(1), 100)
    for beam in (1, 4):
        output = Translator(model, SearchSettings(1.0, 2, 1.0))(sources, beam)
        assert sum(strip(out) == row[::-1] for out, row in zip(output, rows)) >= 80, beam
