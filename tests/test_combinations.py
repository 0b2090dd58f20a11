"""Every cell x attention combination trains on a tiny copy task and decodes."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt.cells import CELLS
from nmt.config import ATTENTION_NAMES, ModelConfig, SearchSettings
from nmt.data import pad
from nmt.model import build_model
from nmt.search import Translator
from nmt.step import masked_cross_entropy
from nmt.vocab import BOS_ID, EOS_ID

pytestmark = pytest.mark.slow  # trains several models or processes: left out by make test-fast


def copy_batch(rng, size=32):
    rows = [list(rng.integers(4, 12, rng.integers(2, 6))) for _ in range(size)]
    targets = [r + [EOS_ID] for r in rows]
    return pad(targets), pad([t[:-1] for t in targets], prefix=[BOS_ID]), pad(targets)


@pytest.mark.parametrize("attention", ATTENTION_NAMES)
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_combination_learns_and_decodes(cell, attention):
    keras.utils.set_random_seed(0)
    variant = sorted(CELLS).index(cell) % 2 == 1  # alternate the optional features
    config = ModelConfig(cell=cell, attention=attention, embedding_dim=16, encoder_layers=1,
                         encoder_units=8, decoder_layers=2, decoder_units=16, attention_units=16,
                         input_feeding=variant, residual=variant, tie_embeddings=not variant,
                         dropout=0.1)
    model = build_model(12, 12, config)
    optimizer = keras.optimizers.Adam(0.02)

    @tf.function
    def step(source, target_in, target_out):
        with tf.GradientTape() as tape:
            loss_sum, tokens = masked_cross_entropy(model((source, target_in), training=True),
                                                    target_out, label_smoothing=0.1)
            loss = loss_sum / tokens
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    rng = np.random.default_rng(0)
    losses = [float(step(*copy_batch(rng))) for _ in range(100)]
    # A decoder that ignores the source can learn only the symbols' frequencies (about 0.87 of
    # the first loss on this task, and 1 in 8 symbols right). The bridge alone carries enough of
    # these short sources for some cells to copy a little, so attention is checked directly:
    # copying, output position k must look at source position k.
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5]), losses
    source = copy_batch(np.random.default_rng(1), 64)[0]
    translator = Translator(model, SearchSettings(1.0, 2, 1.0))
    output, attention = translator.with_attention(source, 1)
    lengths = np.count_nonzero(source, axis=1)  # symbols and EOS
    copied = np.mean([np.mean(np.pad(out, (0, n))[:n] == row[:n]) for out, row, n in zip(output, source, lengths)])
    aligned = np.mean([np.mean(att[:n].argmax(-1) == np.arange(n)) for att, n in zip(attention, lengths)])
    assert copied >= 0.5, f"greedy search copies only {copied:.0%} of the symbols"
    assert aligned >= 0.5, f"only {aligned:.0%} of the output positions attend to their source position"
    assert translator(source[:4], 1).shape[0] == translator(source[:4], 3).shape[0] == 4
