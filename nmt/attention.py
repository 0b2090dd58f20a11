"""Luong ("general") attention over encoder states, with padding masked out.

    score(h_t, s_j) = h_t . (W_a s_j)
    a_t = softmax_j(score) over real source positions only
    context_t = sum_j a_tj s_j

``W_a s_j`` does not depend on the decoder, so it is computed once per source
(``keys``) and reused at every decoding step.
"""

from __future__ import annotations

import keras
import tensorflow as tf


class LuongAttention(keras.layers.Layer):
    def __init__(self, query_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.query_dim = query_dim
        self.key_projection = keras.layers.Dense(query_dim, use_bias=False, name="W_a")

    def keys(self, memory: tf.Tensor) -> tf.Tensor:
        """Precomputed ``W_a s_j`` for every source position [batch, src, query_dim]."""
        return self.key_projection(memory)

    def call(self, queries: tf.Tensor, keys: tf.Tensor, memory: tf.Tensor,
             memory_mask: tf.Tensor):
        """Attend with queries [batch, tgt, dim]; returns (context, weights [batch, tgt, src])."""
        scores = tf.matmul(queries, keys, transpose_b=True)
        scores = tf.where(memory_mask[:, None, :], scores, tf.cast(-1e9, scores.dtype))
        weights = tf.nn.softmax(scores, axis=-1)
        return tf.matmul(weights, memory), weights

    def get_config(self) -> dict:
        return {**super().get_config(), "query_dim": self.query_dim}
