"""Why a run does or does not learn: the signals that tell a stalled model from a learning one.

``nmt diagnose`` trains a config from scratch for a few hundred steps and, every
``--every`` steps, measures on one fixed training batch:

- the loss as a share of the target side's unigram entropy (a model that ignores
  the source and its own history sits at 1.0);
- the attention: its entropy as a share of the uniform distribution's, the weight on
  the first source position, and the mean largest weight;
- saturation: the share of units with |value| > 0.99 in the attentional vector
  tanh(W_c [context; h]) and in the bridge's initial decoder state, where tanh's
  gradient is almost zero;
- the gradient norms of the encoder's and decoder's recurrent weights.

``--zero-output-bias`` starts the output bias at zero instead of the target
log-frequencies, which reproduces the stall docs/training.md describes.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import tensorflow as tf

from nmt.config import Config
from nmt.data import epoch_dataset, make_arrays, plan_batches
from nmt.files import write_atomic
from nmt.step import masked_cross_entropy
from nmt.train import Trainer, prepare_run, read_corpora
from nmt.vocab import PAD_ID

SATURATED = 0.99


def teacher_forced_internals(model, source, target_in):
    """Logits, attention weights [batch, tgt, src], attentional vectors and the decoder's
    initial states, running the decoder step by step as search does (any architecture)."""
    decoder = model.decoder
    memory, memory_mask, finals = model.encoder(source, training=False)
    keys = decoder.attention.keys(memory)
    state = decoder.initial_state(finals)
    initial = state
    embedded = decoder.embedding(target_in)
    first = decoder.cells[0]
    attentional, weights = [], []
    for t in range(target_in.shape[1]):
        vector, state, attention = decoder._step(
            lambda feed, t=t: first.project(tf.concat([embedded[:, t], feed], -1)),
            state, keys, memory, memory_mask)
        attentional.append(vector)
        weights.append(attention)
    attentional, weights = tf.stack(attentional, 1), tf.stack(weights, 1)
    return decoder.logits(attentional), weights, attentional, memory_mask, initial


def signals(model, batch, unigram_entropy: float) -> dict:
    """The measurements above for one batch (source, target_in, target_out)."""
    source, target_in, target_out = batch
    recurrent = {"encoder": [v for v in model.trainable_variables if "encoder" in v.path
                             and v.path.endswith("recurrent_kernel")],
                 "decoder": [v for v in model.trainable_variables if "decoder" in v.path
                             and v.path.endswith("recurrent_kernel")]}
    with tf.GradientTape() as tape:
        logits, weights, attentional, memory_mask, initial = teacher_forced_internals(
            model, source, target_in)
        loss_sum, tokens = masked_cross_entropy(logits, target_out)
        loss = loss_sum / tokens
    gradients = tape.gradient(loss, recurrent)
    real = tf.cast(tf.not_equal(target_out, PAD_ID), tf.float32).numpy()
    weights = weights.numpy()
    lengths = memory_mask.numpy().sum(1)[:, None]
    entropy = -(weights * np.log(weights + 1e-12)).sum(-1) / np.log(np.maximum(lengths, 2))
    bridge = np.concatenate([layer[0].numpy() for layer in initial[0]], -1)

    def mean(values):
        return round(float((values * real).sum() / real.sum()), 3)

    return {"loss_to_unigram": round(float(loss) / unigram_entropy, 3),
            "attention_entropy": mean(entropy), "attention_on_first": mean(weights[..., 0]),
            "attention_max": mean(weights.max(-1)),
            "attentional_saturated": round(float((np.abs(attentional.numpy()) > SATURATED).mean()), 3),
            "bridge_saturated": round(float((np.abs(bridge) > SATURATED).mean()), 3),
            **{f"{side}_recurrent_gradient": round(float(tf.linalg.global_norm(grads)), 5)
               for side, grads in gradients.items()}}


def diagnose(config: Config, steps: int, every: int, zero_output_bias: bool) -> list[dict]:
    """Train ``config`` from scratch in a temporary run directory; measure every ``every`` steps."""
    with tempfile.TemporaryDirectory(prefix="nmt-diagnose-") as scratch:
        config = replace(config, run_root=scratch)
        corpora = read_corpora(config)
        trainer = Trainer(prepare_run(config, corpora), corpora)
        if zero_output_bias:
            trainer.model.decoder.start_from_unigram(np.zeros(trainer.run.tgt_vocab.size, np.float32))
        probe = make_arrays(trainer.corpus, plan_batches(trainer.corpus, config.train.batch_tokens,
                                                         config.seed, 0)[0])
        records, epoch = [], 0
        while int(trainer.step) < steps:
            for batch in epoch_dataset(trainer.corpus, config.train.batch_tokens, config.seed, epoch):
                if int(trainer.step) % every == 0:
                    records.append({"step": int(trainer.step),
                                    **signals(trainer.model, probe, trainer.unigram_entropy)})
                    print(json.dumps(records[-1]), flush=True)
                rate = trainer.learning_rate()
                trainer.train_step(*batch, tf.constant(0.0, tf.float64), tf.constant(rate, tf.float32),
                                   tf.constant(True), tf.constant(0.0))  # every batch one update
                trainer.step.assign_add(1)
                if int(trainer.step) >= steps:
                    break
            epoch += 1
        records.append({"step": int(trainer.step),
                        **signals(trainer.model, probe, trainer.unigram_entropy)})
        print(json.dumps(records[-1]), flush=True)
    return records


def write_report(records: list[dict], path: Path) -> None:
    write_atomic(path, "".join(json.dumps(record) + "\n" for record in records))
    print(f"written to {path}", file=sys.stderr)
