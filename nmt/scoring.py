"""Forced decoding: the model's log-probability of given translations.

The score of a pair is the sum, over the target's subword tokens and its closing
EOS, of the log-probability the model gives each token after the source and the
target tokens before it (teacher forcing, dropout off).  Greedy and beam search add
up the same terms for their own output (beam search then divides by the length
penalty), so given translations, n-best lists and corpus pairs are all scored on one
scale: the basis of reranking and of corpus filtering.
"""

from __future__ import annotations

import sys
from typing import NamedTuple, TextIO

import numpy as np
import tensorflow as tf

from nmt.data import pad
from nmt.run import Run
from nmt.vocab import BOS_ID, PAD_ID


class PairScore(NamedTuple):
    total: float  # summed log-probability of the target tokens (EOS included)
    tokens: int   # how many tokens were scored

    @property
    def per_token(self) -> float:
        return self.total / self.tokens


def score_batch(model, source: np.ndarray, target: np.ndarray):
    """Summed log-probabilities [batch] and token counts [batch] of padded target ids
    (each row ending with EOS) given padded source ids."""
    target_in = np.concatenate([np.full((len(target), 1), BOS_ID, np.int32), target[:, :-1]], axis=1)
    logits = model((tf.constant(source), tf.constant(target_in)), training=False)
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
    picked = tf.gather(log_probs, tf.constant(target, tf.int32), batch_dims=2)
    mask = tf.cast(tf.not_equal(target, PAD_ID), tf.float32)
    return (tf.reduce_sum(picked * mask, axis=1).numpy().astype(np.float64),
            tf.reduce_sum(mask, axis=1).numpy().astype(int))


def _cut(ids: list[int], limit: int, side: str, line: int) -> list[int]:
    if len(ids) <= limit:
        return ids
    print(f"warning: {side} line {line} has {len(ids) - 1} subword tokens; scoring the first "
          f"{limit - 1} (decode.max_input_length)", file=sys.stderr)
    return ids[:limit - 1] + ids[-1:]


def score_pairs(run: Run, model, sources: list[str], targets: list[str],
                batch_size: int | None = None) -> list[PairScore]:
    """One score per (source, target) pair, in input order; batches hold similar lengths."""
    batch_size = batch_size or run.config.decode.batch_size
    limit = run.config.decode.max_input_length
    src = [_cut(ids, limit, "source", i + 1) for i, ids in enumerate(run.src_vocab.encode(sources))]
    tgt = [_cut(ids, limit, "target", i + 1) for i, ids in enumerate(run.tgt_vocab.encode(targets))]
    order = sorted(range(len(src)), key=lambda i: (len(tgt[i]), len(src[i])))
    scores: list[PairScore | None] = [None] * len(src)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        totals, counts = score_batch(model, pad([src[i] for i in chunk]), pad([tgt[i] for i in chunk]))
        for index, total, count in zip(chunk, totals, counts):
            scores[index] = PairScore(float(total), int(count))
    return scores


def write_scores(scores: list[PairScore], sink: TextIO) -> None:
    """One line per pair: total log-probability, log-probability per token, token count."""
    for score in scores:
        sink.write(f"{score.total:.6f}\t{score.per_token:.6f}\t{score.tokens}\n")
