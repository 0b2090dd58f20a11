"""Attention over encoder states, with padding masked out.

Score functions (query q: decoder state, s_j: encoder state at source position j):

    luong_dot       q . s_j                          (needs equal sizes)
    luong_general   q . (W_a s_j)
    luong_concat    v . tanh(W_q q + W_s s_j)        (Luong's v . tanh(W [q; s_j]))
    bahdanau        v . tanh(W_q q + W_s s_j)        with the previous decoder state as the
                                                     query and the context fed into the RNN
                                                     (the decoder arranges that)

    a = softmax_j(score) over real source positions only;  context = sum_j a_j s_j

Everything that depends only on the source (``W_a s_j``, ``W_s s_j``) is computed
once per sentence in ``keys`` and reused at every decoding step.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from nmt.errors import NmtError


class Attention(keras.layers.Layer):
    def __init__(self, kind: str, query_dim: int, memory_dim: int, units: int, **kwargs):
        super().__init__(**kwargs)
        if kind == "luong_dot" and query_dim != memory_dim:
            raise NmtError(f"model.attention: luong_dot needs decoder_units ({query_dim}) equal to "
                           f"2 * encoder_units ({memory_dim}); use luong_general")
        self.kind = kind
        self.additive = kind in ("luong_concat", "bahdanau")
        if kind == "luong_general":
            self.memory_projection = keras.layers.Dense(query_dim, use_bias=False, name="W_a")
        if self.additive:
            self.memory_projection = keras.layers.Dense(units, use_bias=False, name="W_s")
            self.query_projection = keras.layers.Dense(units, use_bias=False, name="W_q")
            self.score_vector = keras.layers.Dense(1, use_bias=False, name="v")

    def keys(self, memory: tf.Tensor) -> tf.Tensor:
        """The source-only part of the score, [batch, src, key_dim]."""
        return memory if self.kind == "luong_dot" else self.memory_projection(memory)

    def call(self, queries: tf.Tensor, keys: tf.Tensor, memory: tf.Tensor, memory_mask: tf.Tensor):
        """Attend with queries [batch, tgt, dim]; returns (context, weights [batch, tgt, src])."""
        if self.additive:
            hidden = tf.tanh(self.query_projection(queries)[:, :, None, :] + keys[:, None, :, :])
            scores = self.score_vector(hidden)[..., 0]
        else:
            scores = tf.matmul(queries, keys, transpose_b=True)
        scores = tf.where(memory_mask[:, None, :], scores, tf.cast(-1e9, scores.dtype))
        weights = tf.nn.softmax(scores, axis=-1)
        return tf.matmul(weights, memory), weights
