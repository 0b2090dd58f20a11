"""Several trained models searched as one (``nmt translate --run A --run B``).

At every search step each model scores the next token from its own decoder state;
the ensemble's score is the mean of their log-probabilities, renormalized by the
search (a normalized geometric mean of the models' distributions).  The ensemble
offers what the searches in ``nmt.search`` use of a model - ``encoder``,
``decoder.attention.keys``, ``decoder.initial_state``, ``decoder.advance``,
``decoder.logits`` and ``decoder.step`` - with tuples holding one part per model, so
greedy, beam, n-best, prefix and sampling searches run unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from nmt.errors import NmtError
from nmt.run import Run


class _Keys:
    def __init__(self, models):
        self.models = models

    def keys(self, memories):
        return tuple(m.decoder.attention.keys(memory) for m, memory in zip(self.models, memories))


class _Decoder:
    def __init__(self, models):
        self.models = models
        self.attention = _Keys(models)

    def initial_state(self, finals):
        return tuple(m.decoder.initial_state(f) for m, f in zip(self.models, finals))

    def advance(self, tokens, states, keys, memories, mask, beam: int = 1, lookup=None):
        """(each model's attentional vector, each model's state, mean attention)."""
        attentional, new_states, weights = [], [], []
        for model, state, key, memory in zip(self.models, states, keys, memories):
            vector, state, attention = model.decoder.advance(tokens, state, key, memory, mask, beam)
            attentional.append(vector)
            new_states.append(state)
            weights.append(tf.cast(attention, tf.float32))
        return tuple(attentional), tuple(new_states), tf.add_n(weights) / len(weights)

    def logits(self, attentional):
        """Mean log-probabilities [rows, vocab] of the models' attentional vectors."""
        log_probs = [tf.nn.log_softmax(tf.cast(model.decoder.logits(vector), tf.float32))
                     for model, vector in zip(self.models, attentional)]
        return tf.add_n(log_probs) / len(log_probs)

    def step(self, tokens, states, keys, memories, mask, beam: int = 1):
        """(mean log-probabilities [batch, vocab], each model's state, mean attention)."""
        attentional, states, weights = self.advance(tokens, states, keys, memories, mask, beam)
        return self.logits(attentional), states, weights


class Ensemble:
    """Models sharing one tokenizer, searched together."""

    def __init__(self, models: Sequence):
        self.models = list(models)
        self.decoder = _Decoder(self.models)

    def encoder(self, source, training: bool = False):
        encoded = [model.encoder(source, training=training) for model in self.models]
        return tuple(e[0] for e in encoded), encoded[0][1], tuple(e[2] for e in encoded)


def check_same_tokenizer(first: Run, other: Run) -> None:
    """An ensemble searches one vocabulary: every run must have the first run's tokenizer."""
    if (other.src_vocab.fingerprint, other.tgt_vocab.fingerprint) != (first.src_vocab.fingerprint,
                                                                      first.tgt_vocab.fingerprint):
        raise NmtError(f"--run {other.directory}: its tokenizer differs from that of --run "
                       f"{first.directory}; an ensemble needs runs trained with the same tokenizer "
                       f"(train.init_from copies it)")
